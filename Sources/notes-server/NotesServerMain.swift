import ArgumentParser
import NIOCore
import NIOPosix
import NotesServer

/// The executable's entry point: everything else lives in the NotesServer library.
@main
struct NotesServerMain: AsyncParsableCommand {
    static let configuration = NotesServerCommand.configuration

    /// Swift concurrency's jobs run on NIO's event loops (the threads that do the server's I/O)
    /// instead of a pool of their own, so a request is not handed between two sets of threads
    /// on its way in and out: the kernel's context switches were a fifth of the server's time.
    /// Must come first, on the main thread, before any task runs.
    static func main() async {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await Self.main(nil)
    }
}
