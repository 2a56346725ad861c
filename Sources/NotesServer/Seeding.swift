import Foundation
import Logging

/// A Seeds file: demo users with plain-text passwords (hashed when loaded) and their notes.
struct SeedFile: Decodable, Sendable {
    struct SeedUser: Decodable, Sendable {
        var username: String
        var password: String
        var admin: Bool?
    }

    struct SeedNote: Decodable, Sendable {
        var username: String
        var title: String
        var body: String?
        var tags: [String]?
    }

    var users: [SeedUser]
    var notes: [SeedNote]?
}

/// Loads a Seeds file through the repositories. A user whose username exists, or a note whose
/// owner already has one with that title, is skipped, so loading twice changes nothing.
struct Seeder {
    let users: any UserRepository
    let notes: any NoteRepository
    let hasher: PasswordHasher
    let now: @Sendable () -> Date
    let logger: Logger

    /// Reads and checks a Seeds file without touching the database, so that a broken one is
    /// a startup error before anything else happens.
    static func read(path: String) throws -> SeedFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError("--seed \(path) cannot be loaded: \(Self.describe(error))")
        }
        return try decode(data, path: path)
    }

    /// Decodes and checks the contents of a Seeds file; `path` is only for the messages.
    static func decode(_ data: Data, path: String) throws -> SeedFile {
        let seeds: SeedFile
        do {
            seeds = try JSONDecoder().decode(SeedFile.self, from: data)
        } catch {
            throw ConfigurationError("--seed \(path) cannot be loaded: \(Self.describe(error))")
        }
        for user in seeds.users {
            if let problem = Validate.username(user.username) ?? Validate.password(user.password) {
                throw ConfigurationError("--seed \(path): user '\(user.username)' \(problem)")
            }
        }
        for (index, note) in (seeds.notes ?? []).enumerated() {
            if let problem = Validate.title(note.title) ?? Validate.body(note.body ?? "") ?? Validate.tags(note.tags ?? []) {
                throw ConfigurationError("--seed \(path): note \(index + 1) '\(note.title)': \(problem)")
            }
        }
        return seeds
    }

    func load(path: String) async throws {
        try await load(Self.read(path: path), path: path)
    }

    func load(_ seeds: SeedFile, path: String) async throws {
        var createdUsers = 0
        var createdNotes = 0
        for user in seeds.users {
            if try await users.find(username: user.username, logger: logger) != nil { continue }
            let account = UserAccount(
                id: UUID(),
                username: user.username,
                passwordHash: try await hasher.hash(user.password),
                admin: user.admin ?? false,
                createdAt: now()
            )
            do {
                try await users.create(account, logger: logger)
                createdUsers += 1
            } catch StorageError.usernameTaken {
                continue
            }
        }
        for (index, note) in (seeds.notes ?? []).enumerated() {
            guard let owner = try await users.find(username: note.username, logger: logger) else {
                throw ConfigurationError("--seed \(path): note \(index + 1) names unknown user '\(note.username)'")
            }
            let body = note.body ?? ""
            let tags = note.tags ?? []
            if try await notes.exists(ownerID: owner.id, title: note.title, logger: logger) { continue }
            // Inserted in the file's order, and the repository keeps each new note strictly
            // newer than the owner's last: the first listed is the oldest.
            let created = now()
            _ = try await notes.create(
                StoredNote(
                    id: NoteID.make(at: created),
                    ownerID: owner.id,
                    title: note.title,
                    body: body,
                    tags: tags,
                    createdAt: created,
                    updatedAt: created,
                    version: 1
                ),
                logger: logger
            )
            createdNotes += 1
        }
        logger.info(
            "seeds loaded",
            metadata: ["file": .string(path), "new_users": .stringConvertible(createdUsers), "new_notes": .stringConvertible(createdNotes)]
        )
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted: "not valid JSON"
        default: (error as NSError).localizedDescription
        }
    }
}
