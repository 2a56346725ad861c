import Foundation
import TestSupport
import Testing

/// The libFuzzer targets' seed corpora (Fuzz/Corpus), replayed through the ordinary build's
/// `notes-fuzz`, which runs the very same target code without libFuzzer. Every input the
/// fuzzer once crashed on is kept there, so this is also the fuzzers' regression suite.
@Suite("Fuzz corpora replay without a crash")
struct FuzzCorpusTests {
    static let targets = ["access-token", "request-body", "seeds", "client-response", "shell-words"]

    @Test("every seed input of the target runs to its end", arguments: targets)
    func replay(target: String) async throws {
        let folder = repositoryRoot() + "/Fuzz/Corpus/" + target
        let inputs = try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix(".") }
        #expect(inputs.count >= 5, "a thin corpus for \(target)")
        let run = try await runProcess(Binaries.fuzz.path, ["--target=\(target)", folder], timeout: 120)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("notes-fuzz: \(target): \(inputs.count) inputs ran"), "\(run.output)")
    }

    @Test("an unknown target name stops at once with the list of names")
    func unknownTarget() async throws {
        let run = try await runProcess(Binaries.fuzz.path, ["--target=nope"], timeout: 60)
        #expect(run.status == 2)
        #expect(run.output.contains("one of access-token, request-body, seeds, client-response, shell-words"), "\(run.output)")
    }
}
