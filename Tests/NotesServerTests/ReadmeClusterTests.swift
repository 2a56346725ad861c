import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The README's "Scaling out" commands and tutorial part 1, run through `make cluster` (in the
/// cluster suite, so that no two clusters run at once).
extension ClusterTests {
    @Test("README: make cluster prints one URL; the README's commands and every step of tutorial part 1 work through it; Ctrl-C stops it all")
    func makeCluster() async throws {
        let blocks = ReadmeTests.blocks(try ReadmeTests.region("cluster")).filter { $0.language == "sh" }.map { $0.lines.joined(separator: "\n") }
        #expect(blocks.first == "make cluster")
        let state = try temporaryDirectory()
        let cluster = try ClusterProcess(
            ["make", "cluster"],
            environment: [
                "NOTES_CLUSTER_DATABASE_URL": try await PostgresTestCluster.shared.freshDatabase(),
                "NOTES_CLUSTER_SEED": try seedsPath(),
                // Long enough for tutorial steps 1–3 on a busy machine, short enough to watch expire in step 4.
                "NOTES_CLUSTER_TTL": "8s",
                "NOTES_CLUSTER_STATE": state,
            ]
        )
        do {
            let (url, replicas) = try await cluster.ready()
            #expect(replicas.count == 3)
            let home = try temporaryDirectory()
            let environment = [
                "PATH": Binaries.server.deletingLastPathComponent().path + ":"
                    + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
                "NOTES_CONFIG_DIR": home + "/config", "XDG_STATE_HOME": home + "/state", "HOME": home,
            ]
            let commands = blocks.dropFirst().joined(separator: "\n").replacingOccurrences(of: "http://127.0.0.1:8080", with: url)
            let (status, output) = try await ReadmeTests.bash(commands, environment: environment)
            #expect(status == 0, "\(output)")
            #expect(output.contains(#"{"status":"ok"}"#), "\(output)")
            #expect(output.lowercased().contains("x-request-id: my-trace-42"), "\(output)")
            #expect(output.contains("alice"), "logged in as alice: \(output)")

            try await Self.tutorial(url: url)

            // Rotating the signing keys, as the README shows it, through the same cluster.
            let rotation = ReadmeTests.blocks(try ReadmeTests.region("key-rotation")).filter { $0.language == "sh" }
                .map { $0.lines.joined(separator: "\n") }.joined(separator: "\n")
                .replacingOccurrences(of: ".cluster/database-url", with: state + "/database-url")
            #expect(rotation.contains("keys rotate --now") && rotation.contains("keys retire"))
            let (rotated, rotationOutput) = try await ReadmeTests.bash(rotation, environment: environment.merging(["NOTES": url]) { $1 })
            #expect(rotated == 0, "\(rotationOutput)")
            let kids = rotationOutput.split(separator: "\n").filter { !$0.contains(" ") && $0.count == 43 }.map(String.init)
            #expect(Set(kids).count == 2, "the JWKS listed the old key and the new one: \(rotationOutput)")
            #expect(rotationOutput.contains("names the signing key"), "notes token showed the kid: \(rotationOutput)")
            #expect(rotationOutput.contains("retired "), "\(rotationOutput)")
            // Ctrl-C reaches make and the script (its process group); the script stops what it started.
            _ = try await cluster.stop(signal: SIGINT, group: true)
            let deadline = ContinuousClock.now + .seconds(30)
            while replicas.contains(where: { processAlive($0.pid) }) {
                guard ContinuousClock.now < deadline else { throw TestFailure("replicas still running after Ctrl-C") }
                try await Task.sleep(for: .milliseconds(50))
            }
        } catch {
            _ = try? await cluster.stop(signal: SIGINT, group: true)
            throw error
        }
    }

    /// Tutorial part 1 against `url`, each step's output held against the README's, as
    /// `ReadmeTests` does against one server.
    static func tutorial(url: String) async throws {
        let steps = try ReadmeTests.tutorialSteps()
        let script = steps.enumerated().map { "echo '@@step \($0.offset)@@'\n\($0.element.script)" }.joined(separator: "\n")
        let (status, output) = try await ReadmeTests.bash(script, environment: ["NOTES": url])
        #expect(status == 0, "the tutorial failed through the cluster:\n\(output)")
        let outputs = output.components(separatedBy: "@@step ").dropFirst().map { chunk in
            chunk.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).dropFirst().map { ReadmeTests.normalized(String($0)) }
        }
        #expect(outputs.count == steps.count)
        for (index, step) in steps.enumerated() where index < outputs.count {
            for line in step.shown ?? [] where !line.contains("…") && !line.trimmingCharacters(in: .whitespaces).isEmpty {
                #expect(
                    outputs[index].contains(ReadmeTests.normalized(line)),
                    "step \(index) through the cluster does not print the README's line \(line); it printed:\n\(outputs[index].joined(separator: "\n"))"
                )
            }
        }
    }
}
