import Foundation

@testable import NotesServer

/// The Seeds loader's reading and checking of a file (`Seeder.decode`), which runs before
/// anything else at startup: it must refuse a broken file with a message, never crash.
enum SeedsFuzz {
    static func run(_ data: Data) {
        do {
            let seeds = try Seeder.decode(data, path: "fuzz.json")
            _ = seeds.users.count + (seeds.notes?.count ?? 0)
        } catch {
            _ = String(describing: error)
        }
    }
}
