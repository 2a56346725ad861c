import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NotesModels
import Prometheus
import TestSupport
import Testing

@testable import NotesServer

/// What `/metrics` says, from a Prometheus registry of the test's own (no process-wide state).
@Suite("Metrics: requests, logins, refreshes and token refusals")
struct MetricsTests {
    /// A fresh registry and hooks that record into it.
    static func recording() -> (PrometheusCollectorRegistry, ServerHooks) {
        let registry = PrometheusCollectorRegistry()
        return (registry, ServerHooks(metricsFactory: PrometheusMetricsFactory(registry: registry)))
    }

    /// The value of the sample `name{labels}`, or nil when it is not there.
    static func sample(_ text: String, _ name: String, _ labels: [(String, String)] = []) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            let matches = labels.allSatisfy { key, value in line.contains("\(key)=\"\(value)\"") }
            if matches, let value = line.split(separator: " ").last.flatMap({ Double($0) }) { return value }
        }
        return nil
    }

    @Test("requests are counted and timed by route pattern and status, never by the raw path or an id", arguments: Engine.allCases)
    func requestsByRoute(engine: Engine) async throws {
        let (registry, hooks) = Self.recording()
        let config = try await testConfiguration(engine: engine)
        let noteID = try await withApp(config, hooks: hooks) { client in
            let token = try await client.signUp("alice")
            let note = try await client.createNote(token, title: "counted")
            #expect(try await client.get("/notes/\(note.id)", token: token).status == .ok)
            #expect(try await client.get("/notes/\(UUID())", token: token).status == .notFound)
            #expect(try await client.get("/no/such/\(UUID())").status == .notFound)
            return note.id
        }
        let text = registry.emitToString()
        #expect(Self.sample(text, "notes_http_requests_total", [("method", "GET"), ("route", "/notes/{id}"), ("status", "200")]) == 1, "\(text)")
        #expect(Self.sample(text, "notes_http_requests_total", [("method", "GET"), ("route", "/notes/{id}"), ("status", "404")]) == 1)
        #expect(Self.sample(text, "notes_http_requests_total", [("method", "POST"), ("route", "/notes"), ("status", "201")]) == 1)
        #expect(Self.sample(text, "notes_http_requests_total", [("method", "GET"), ("route", "unmatched"), ("status", "404")]) == 1)
        #expect(
            Self.sample(text, "notes_http_request_duration_seconds_count", [("method", "POST"), ("route", "/auth/login"), ("status", "200")]) == 1
        )
        #expect(!text.contains(noteID.uuidString), "no id in a label")
        #expect(!text.contains("/no/such"), "no raw path in a label")
        #expect(!text.contains("alice"), "no username in a label")
    }

    @Test("login outcomes success, failure and throttled; refresh outcomes rotated, reused, expired and unknown", arguments: Engine.allCases)
    func outcomes(engine: Engine) async throws {
        var (registry, hooks) = Self.recording()
        let clock = TestClock()
        hooks.now = clock.now
        var config = try await testConfiguration(engine: engine)
        config.refreshTokenTTL = 600
        let secretParts = try await withApp(config, hooks: hooks) { client in
            try await client.register("bob")
            let first = try await client.login("bob")
            let refresh = { (token: String) in try await client.post("/auth/refresh", json: RefreshRequest(refreshToken: token)) }
            let rotated = try await refresh(first.refreshToken)
            #expect(rotated.status == .ok)
            #expect(try await refresh(first.refreshToken).status == .unauthorized, "a replay is reuse")
            #expect(try await refresh("not-a-token-we-issued").status == .unauthorized)
            let later = try await client.login("bob")
            clock.advance(601)
            let expired = try await refresh(later.refreshToken)
            #expect(expired.status == .unauthorized)
            #expect(expired.error?.name == "AuthenticationError")
            for _ in 0..<5 { #expect(try await client.loginResponse("bob", "wrong-password").status == .unauthorized) }
            #expect(try await client.loginResponse("bob", "correct-horse").status == .tooManyRequests)
            return [first.accessToken, first.refreshToken]
        }
        let text = registry.emitToString()
        #expect(Self.sample(text, "notes_logins_total", [("outcome", "success")]) == 2, "\(text)")
        #expect(Self.sample(text, "notes_logins_total", [("outcome", "failure")]) == 5)
        #expect(Self.sample(text, "notes_logins_total", [("outcome", "throttled")]) == 1)
        #expect(Self.sample(text, "notes_refreshes_total", [("outcome", "rotated")]) == 1)
        #expect(Self.sample(text, "notes_refreshes_total", [("outcome", "reused")]) == 1)
        #expect(Self.sample(text, "notes_refreshes_total", [("outcome", "unknown")]) == 1)
        #expect(Self.sample(text, "notes_refreshes_total", [("outcome", "expired")]) == 1)
        for secret in secretParts { #expect(!text.contains(secret), "no token in a label") }
        #expect(!text.contains("bob"))
    }

    @Test("access-token refusals are counted by the contract's message, and the key ring's state is a gauge")
    func refusals() async throws {
        let (registry, hooks) = Self.recording()
        try await withApp(hooks: hooks) { (client: any TestClientProtocol) async throws -> Void in
            #expect(try await client.get("/me").status == .unauthorized)
            #expect(try await client.get("/me", token: "not.a.jwt").status == .unauthorized)
            #expect(try await client.get("/me", token: "garbage").status == .unauthorized)
        }
        let text = registry.emitToString()
        #expect(Self.sample(text, "notes_access_token_refusals_total", [("message", "No authorization token was found")]) == 1, "\(text)")
        #expect(Self.sample(text, "notes_access_token_refusals_total", [("message", "jwt malformed")]) == 2)
        #expect(Self.sample(text, "notes_signing_keys", [("state", "current")]) == 1)
    }
}
