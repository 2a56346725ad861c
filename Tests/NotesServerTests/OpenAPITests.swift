import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NotesModels
import Testing

@testable import NotesServer

@Suite("The OpenAPI document")
struct OpenAPITests {
    /// `path -> methods`, read from the document's `paths:` section by indentation.
    static func documentedRoutes(_ yaml: String) -> [String: Set<String>] {
        var routes: [String: Set<String>] = [:]
        var inPaths = false
        var current: String?
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("paths:") {
                inPaths = true
                continue
            }
            guard inPaths else { continue }
            if !line.isEmpty, !line.hasPrefix(" "), !line.hasPrefix("#") { break }
            if line.hasPrefix("  /"), !line.hasPrefix("   ") {
                current = String(line.dropFirst(2).dropLast(line.hasSuffix(":") ? 1 : 0)).trimmingCharacters(in: .whitespaces)
                routes[current ?? ""] = []
            } else if let current, line.hasPrefix("    "), !line.hasPrefix("     ") {
                let key = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "put", "post", "patch", "delete"].contains(String(key)) { routes[current, default: []].insert(key.uppercased()) }
            }
        }
        return routes
    }

    @Test("every route the router serves is in openapi.yaml with its method, and nothing else is")
    func everyRoute() async throws {
        let config = try testConfiguration()
        let storage = try SQLiteDatabase.open(path: config.dataDirectory + "/notes.sqlite").storage
        let router = try buildRouter(
            configuration: config,
            storage: storage,
            ring: KeyRing(fixed: await SigningKey.hmac(secret: testSecret)),
            cursors: CursorCodec(),
            hasher: try await PasswordHasher(cost: 4),
            hooks: ServerHooks()
        )
        var served: [String: Set<String>] = [:]
        for route in router.routes {
            let path =
                "/"
                + route.path.description.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            served[path, default: []].insert(route.method.rawValue)
        }
        let yaml = String(buffer: try OpenAPIDocument.load())
        let documented = Self.documentedRoutes(yaml)
        #expect(!served.isEmpty)
        #expect(served == documented)
    }

    @Test("GET /openapi.yaml serves the document, and it says OpenAPI 3.1")
    func served() async throws {
        try await withApp { client in
            let response = try await client.get("/openapi.yaml")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("application/yaml") == true)
            #expect(response.text.hasPrefix("openapi: 3.1"))
        }
    }
}
