import ArgumentParser
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NotesModels
import TestSupport
import Testing

@testable import NotesServer

@Suite("Configuration from flags, NOTES_* variables and defaults")
struct ConfigurationTests {
    func resolve(_ arguments: [String], env: [String: String] = [:]) throws -> ServerConfiguration {
        let command = try ServeCommand.parse(arguments)
        return try command.resolve(environment: env)
    }

    func failure(_ arguments: [String], env: [String: String] = [:]) -> String? {
        do {
            _ = try resolve(arguments, env: env)
            return nil
        } catch let error as ConfigurationError {
            return error.description
        } catch {
            return "\(error)"
        }
    }

    @Test("defaults are API.md's")
    func defaults() throws {
        let config = try resolve([])
        #expect(config.hostname == "127.0.0.1" && config.port == 8080 && config.dataDirectory == "./notes-data")
        #expect(config.jwtAlgorithm == .rs256 && config.issuer == "notes-server" && config.audience == "notes-client")
        #expect(config.accessTokenTTL == 900 && config.refreshTokenTTL == 2_592_000 && config.clockTolerance == 0)
        #expect(config.bcryptCost == 12 && config.logLevel == .info && config.seedFile == nil)
    }

    @Test("durations: 45s, 15m, 2h, 30d and plain seconds")
    func durations() {
        #expect(DurationParser.seconds("45s") == 45)
        #expect(DurationParser.seconds("15m") == 900)
        #expect(DurationParser.seconds("2h") == 7_200)
        #expect(DurationParser.seconds("30d") == 2_592_000)
        #expect(DurationParser.seconds("120") == 120)
        for bad in ["", "m", "1.5m", "-5s", "5w", "s5", "99999999999999999999d"] { #expect(DurationParser.seconds(bad) == nil, "\(bad)") }
    }

    @Test("every option reads NOTES_<OPTION>, and a flag beats the variable")
    func environment() throws {
        let env = [
            "NOTES_PORT": "9000", "NOTES_ACCESS_TOKEN_TTL": "2m", "NOTES_JWT_ALGORITHM": "es256", "NOTES_ISSUER": "iss-env",
            "NOTES_LOG_LEVEL": "debug", "NOTES_BCRYPT_COST": "5", "NOTES_DATA_DIR": "/tmp/x", "NOTES_CLOCK_TOLERANCE": "30s",
        ]
        let fromEnv = try resolve([], env: env)
        #expect(fromEnv.port == 9000 && fromEnv.accessTokenTTL == 120 && fromEnv.jwtAlgorithm == .es256 && fromEnv.issuer == "iss-env")
        #expect(fromEnv.logLevel == .debug && fromEnv.bcryptCost == 5 && fromEnv.dataDirectory == "/tmp/x" && fromEnv.clockTolerance == 30)
        let flagWins = try resolve(["--port", "7000", "--access-token-ttl", "45s"], env: env)
        #expect(flagWins.port == 7000 && flagWins.accessTokenTTL == 45)
    }

    @Test(
        "mistakes are one clear line each",
        arguments: [
            (["--jwt-algorithm", "HS512"], "HS256, RS256, ES256, EdDSA"),
            (["--jwt-algorithm", "HS256"], "--jwt-secret"),
            (["--jwt-algorithm", "HS256", "--jwt-secret", "short"], "at least 32"),
            (["--clock-tolerance", "6m"], "5m"),
            (["--access-token-ttl", "soon"], "duration"),
            (["--database-url", "postgres://localhost/db"], "PostgreSQL URL names no user"),
            (["--database-url", "sqlite://relative.sqlite"], "absolute path"),
            (["--database-url", "mysql://x"], "sqlite:///"),
            (["--port", "70000"], "--port"),
            (["--bcrypt-cost", "2"], "--bcrypt-cost"),
            (["--log-level", "loud"], "--log-level"),
            (["--jwt-secret", "0123456789abcdef0123456789abcdef"], "only for HS256"),
            (["--key-publish-delay", "100d"], "--key-publish-delay"),
            (["--key-publish-delay", "later"], "duration"),
            (["--key-rotation-interval", "1m"], "longer than --key-publish-delay"),
        ]
    )
    func mistakes(arguments: [String], hint: String) {
        let message = failure(arguments)
        #expect(message?.contains(hint) == true, "\(arguments): \(message ?? "accepted")")
        #expect(message?.contains("\n") == false)
    }

    @Test("an unreadable or wrong key file is a clear startup error")
    func badKeyFile() async throws {
        var config = try testConfiguration(.rs256)
        config.jwtPrivateKeyPath = "/nonexistent/key.pem"
        await #expect(throws: ConfigurationError.self) { _ = try await buildApplication(configuration: config) }
        let folder = try temporaryDirectory()
        try Data(try SigningKey.generatePEM(.edDSA).utf8).write(to: URL(fileURLWithPath: folder + "/ed.pem"))
        config.jwtPrivateKeyPath = folder + "/ed.pem"
        do {
            _ = try await buildApplication(configuration: config)
            Issue.record("an Ed25519 key was accepted for RS256")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("RS256"))
        }
    }

    @Test("a seeds file that does not parse is a startup error naming it")
    func badSeeds() async throws {
        var config = try testConfiguration()
        let path = try temporaryDirectory() + "/seeds.json"
        try Data(#"{"users": [{"username": "x"}]}"#.utf8).write(to: URL(fileURLWithPath: path))
        config.seedFile = path
        do {
            _ = try await buildApplication(configuration: config)
            Issue.record("bad seeds accepted")
        } catch let error as ConfigurationError {
            #expect(error.description.contains(path))
        }
    }
}
