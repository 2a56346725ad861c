import HummingbirdBcrypt
import NIOPosix

/// bcrypt at the configured cost, always on NIO's thread pool (whose fixed size bounds how
/// many hashes run at once), never on an event loop or the cooperative pool.
struct PasswordHasher: Sendable {
    let cost: Int
    /// A hash of a random password at the same cost: verifying an unknown username against
    /// it costs what a real check costs, so timing does not tell which usernames exist.
    let decoyHash: String
    private let pool: NIOThreadPool

    init(cost: Int, pool: NIOThreadPool = .singleton) async throws {
        self.cost = cost
        self.pool = pool
        let random = (0..<4).map { _ in String(UInt64.random(in: .min ... .max), radix: 36) }.joined()
        self.decoyHash = try await pool.runIfActive { Bcrypt.hash(random, cost: UInt8(cost)) }
    }

    func hash(_ password: String) async throws -> String {
        let cost = UInt8(self.cost)
        return try await pool.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    func verify(_ password: String, hash: String) async throws -> Bool {
        try await pool.runIfActive { Bcrypt.verify(password, hash: hash) }
    }
}
