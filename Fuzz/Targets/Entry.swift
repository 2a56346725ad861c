import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The fuzz targets of `notes-fuzz`, by the name `--target=NAME` (or `NOTES_FUZZ_TARGET`)
/// selects. One executable holds them all, so the sanitized build links once.
enum FuzzTarget: String, CaseIterable, Sendable {
    case accessToken = "access-token"
    case requestBody = "request-body"
    case seeds
    case clientResponse = "client-response"
    case shellWords = "shell-words"

    /// Feeds one input to the target. A finding is a crash: a trap, a sanitizer report, or a
    /// broken invariant (which the targets turn into a trap on purpose).
    func run(_ data: Data) async {
        switch self {
        case .accessToken: await AccessTokenFuzz.run(data)
        case .requestBody: RequestBodyFuzz.run(data)
        case .seeds: SeedsFuzz.run(data)
        case .clientResponse: ClientResponseFuzz.run(data)
        case .shellWords: ShellWordsFuzz.run(data)
        }
    }

    /// ``run(_:)`` from synchronous code (libFuzzer's callback); only the access-token target
    /// is asynchronous, and only it pays for a task.
    func runBlocking(_ data: Data) {
        switch self {
        case .accessToken:
            let done = DispatchSemaphore(value: 0)
            Task {
                await AccessTokenFuzz.run(data)
                done.signal()
            }
            done.wait()
        case .requestBody: RequestBodyFuzz.run(data)
        case .seeds: SeedsFuzz.run(data)
        case .clientResponse: ClientResponseFuzz.run(data)
        case .shellWords: ShellWordsFuzz.run(data)
        }
    }

    /// The target named on the command line (`--target=NAME`, which libFuzzer ignores as it
    /// ignores every flag with two dashes) or in `NOTES_FUZZ_TARGET`.
    static func named(in arguments: [String], environment: [String: String]) -> FuzzTarget? {
        let name =
            arguments.last(where: { $0.hasPrefix("--target=") }).map { String($0.dropFirst("--target=".count)) }
            ?? environment["NOTES_FUZZ_TARGET"]
        return name.flatMap(FuzzTarget.init(rawValue:))
    }

    /// The selected target, or exit 2 with the list of names.
    static let selected: FuzzTarget = {
        if let target = named(in: CommandLine.arguments, environment: ProcessInfo.processInfo.environment) { return target }
        let names = allCases.map(\.rawValue).joined(separator: ", ")
        FileHandle.standardError.write(Data("notes-fuzz: name a target with --target=NAME (one of \(names))\n".utf8))
        exit(2)
    }()
}

#if FUZZING
/// libFuzzer's entry point (the sanitized build, `-DFUZZING`): libFuzzer supplies `main`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    FuzzTarget.selected.runBlocking(data)
    return 0
}

/// Checks the target's name before libFuzzer starts, so that a typo stops at once.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(
    _ argc: UnsafeMutablePointer<CInt>?,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?
) -> CInt {
    _ = FuzzTarget.selected
    return 0
}
#else
/// Without libFuzzer (every ordinary build): replays inputs, `notes-fuzz --target=NAME
/// FILE_OR_FOLDER...`, so that a crash file or a whole corpus can be rerun under a debugger
/// or by the tests. Exits 0 when every input ran; a finding crashes the process.
@main
enum Replay {
    static func main() async {
        let target = FuzzTarget.selected
        var count = 0
        for path in CommandLine.arguments.dropFirst() where !path.hasPrefix("-") {
            for file in inputs(at: path) {
                guard let data = FileManager.default.contents(atPath: file) else {
                    FileHandle.standardError.write(Data("notes-fuzz: cannot read \(file)\n".utf8))
                    exit(1)
                }
                await target.run(data)
                count += 1
            }
        }
        print("notes-fuzz: \(target.rawValue): \(count) inputs ran")
    }

    /// `path` itself, or the regular files in it when it is a folder, sorted.
    private static func inputs(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { path + "/" + $0 }
    }
}
#endif
