public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The repository's root folder (where Package.swift is), for README.md, Seeds/ and scripts/.
public func repositoryRoot(_ file: String = #filePath) -> String {
    var url = URL(fileURLWithPath: file)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
    }
    return FileManager.default.currentDirectoryPath
}

/// The executables the test bundle was built with (e.g. `.build/debug/`).
public enum Binaries {
    public static var directory: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    }
    public static var notes: URL { directory.appendingPathComponent("notes") }
    public static var server: URL { directory.appendingPathComponent("notes-server") }
    public static var fuzz: URL { directory.appendingPathComponent("notes-fuzz") }
}

private let temporaryRootPath = FileManager.default.temporaryDirectory
    .appendingPathComponent("securenotes-tests-\(getpid())-\(UUID().uuidString)").path

/// One folder per test process that holds every folder ``temporaryDirectory(_:)`` makes, and
/// is removed when the process exits, so a test that fails half-way leaves nothing behind.
private let temporaryRoot: String = {
    try? FileManager.default.createDirectory(atPath: temporaryRootPath, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: temporaryRootPath) }
    return temporaryRootPath
}()

/// A fresh, empty folder of the test's own (removed at the latest when the tests end).
public func temporaryDirectory(_ prefix: String = "notes-tests") throws -> String {
    let path = temporaryRoot + "/\(prefix)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Runs `body` with a fresh folder and removes the folder afterwards, however `body` ends.
public func withTemporaryDirectory<T>(_ prefix: String = "notes-tests", _ body: (String) async throws -> T) async throws -> T {
    let path = try temporaryDirectory(prefix)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}
