import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NotesModels
import Testing

@testable import NotesServer

@Suite("Every limit, at and past its edge, and bodies that are not what they should be")
struct ValidationTests {
    static let usernames: [(String, Bool)] = [
        ("abc", true), (String(repeating: "a", count: 32), true), ("a_b.c-9", true),
        ("ab", false), (String(repeating: "a", count: 33), false), ("Alice", false), ("al ice", false), ("al/ice", false), ("", false),
    ]

    @Test("username: 3 to 32 of a-z 0-9 _ . -")
    func usernames() async throws {
        try await withApp { client in
            for (name, ok) in Self.usernames {
                let response = try await client.post("/auth/register", json: Credentials(username: name, password: "long-enough"))
                #expect((response.status == .created) == ok, "\(name): \(response.text)")
                if !ok {
                    #expect(response.error?.name == "ValidationError")
                    #expect(response.error?.details?["username"] != nil)
                }
            }
        }
    }

    @Test("password: 8 to 72 bytes")
    func passwords() async throws {
        let cases: [(String, Bool)] = [
            (String(repeating: "p", count: 8), true), (String(repeating: "p", count: 72), true), (String(repeating: "é", count: 36), true),
            (String(repeating: "p", count: 7), false), (String(repeating: "p", count: 73), false), (String(repeating: "é", count: 37), false),
            ("abc\u{0}defghij", false), (String(repeating: "\u{0}", count: 8), false),
        ]
        try await withApp { client in
            for (index, (password, ok)) in cases.enumerated() {
                let response = try await client.post("/auth/register", json: Credentials(username: "user\(index)", password: password))
                #expect((response.status == .created) == ok, "\(password.utf8.count) bytes: \(response.text)")
                if !ok { #expect(response.error?.details?["password"] != nil) }
            }
        }
    }

    @Test("title: 1 to 200 characters and at most 1000 bytes, no control characters")
    func titles() async throws {
        let cases: [(String, Bool)] = [
            ("x", true), (String(repeating: "x", count: 200), true), (String(repeating: "👩‍👩‍👧", count: 55), true),
            (String(repeating: "👩‍👩‍👧", count: 56), false),  // 56 Characters, 1,008 bytes
            ("", false), (String(repeating: "x", count: 201), false), ("tab\there", false), ("line\nbreak", false), ("bell\u{7}", false),
        ]
        try await withApp { client in
            let token = try await client.signUp("alice")
            for (title, ok) in cases {
                let response = try await client.post("/notes", token: token, json: NoteInput(title: title))
                #expect((response.status == .created) == ok, "\(title.count) chars: \(response.text)")
                if !ok { #expect(response.error?.details?["title"] != nil) }
            }
        }
    }

    @Test("body: up to 100000 characters, anything but NUL")
    func bodies() async throws {
        let cases: [(String, Bool)] = [
            (String(repeating: "b", count: 100_000), true), ("tabs\tand\nnewlines\u{7}", true),
            (String(repeating: "b", count: 100_001), false), ("nul\u{0}inside", false),
        ]
        try await withApp { client in
            let token = try await client.signUp("alice")
            for (body, ok) in cases {
                let response = try await client.post("/notes", token: token, json: NoteInput(title: "t", body: body))
                #expect((response.status == .created) == ok, "\(body.count) chars: \(response.status)")
                if !ok { #expect(response.error?.details?["body"] != nil) }
            }
        }
    }

    @Test("tags: at most 20, each 1 to 32 of a-z 0-9 _ -")
    func tags() async throws {
        let cases: [([String], Bool)] = [
            ((0..<20).map { "t\($0)" }, true), ([String(repeating: "t", count: 32)], true), (["a_b-9"], true),
            ((0..<21).map { "t\($0)" }, false), ([String(repeating: "t", count: 33)], false), ([""], false), (["Upper"], false), (["sp ace"], false),
        ]
        try await withApp { client in
            let token = try await client.signUp("alice")
            for (tags, ok) in cases {
                let response = try await client.post("/notes", token: token, json: NoteInput(title: "t", tags: tags))
                #expect((response.status == .created) == ok, "\(tags): \(response.text)")
                if !ok { #expect(response.error?.details?["tags"] != nil) }
            }
        }
    }

    @Test("several bad fields are all reported in details")
    func severalFields() async throws {
        try await withApp { client in
            let token = try await client.signUp("alice")
            let response = try await client.post("/notes", token: token, json: NoteInput(title: "", body: "\u{0}", tags: ["BAD"]))
            #expect(Set(response.error?.details?.keys.map { $0 } ?? []) == ["title", "body", "tags"])
        }
    }

    @Test("missing and mistyped fields are named in details")
    func shapes() async throws {
        try await withApp { client in
            let token = try await client.signUp("alice")
            let missing = try await client.execute(
                uri: "/notes",
                method: .post,
                headers: jsonHeaders(token),
                body: ByteBuffer(string: #"{"body":"x"}"#)
            )
            #expect(missing.status == .badRequest)
            #expect(missing.error?.details == ["title": "is required"])
            let mistyped = try await client.execute(
                uri: "/notes",
                method: .post,
                headers: jsonHeaders(token),
                body: ByteBuffer(string: #"{"title":5}"#)
            )
            #expect(mistyped.error?.details == ["title": "must be a string"])
            let tagType = try await client.execute(
                uri: "/notes",
                method: .post,
                headers: jsonHeaders(token),
                body: ByteBuffer(string: #"{"title":"t","tags":[1]}"#)
            )
            #expect(tagType.error?.details?["tags.0"] != nil)
        }
    }

    @Test("a body that is not JSON, or not an object, is 400 ValidationError", arguments: ["{not json", "[1,2]", "\"text\"", "42", ""])
    func notAnObject(body: String) async throws {
        try await withApp { client in
            let response = try await client.execute(uri: "/auth/login", method: .post, headers: jsonHeaders(), body: ByteBuffer(string: body))
            #expect(response.status == .badRequest)
            #expect(response.error?.name == "ValidationError")
            #expect(response.error?.details?["request"] != nil)
        }
    }

    @Test("a body that is not application/json is 415", arguments: [nil, "text/plain", "application/x-www-form-urlencoded", "application/jsonx"])
    func mediaType(contentType: String?) async throws {
        try await withApp { client in
            var headers: HTTPFields = [:]
            if let contentType { headers[.contentType] = contentType }
            let response = try await client.execute(
                uri: "/auth/register",
                method: .post,
                headers: headers,
                body: ByteBuffer(string: #"{"username":"abc","password":"long-enough"}"#)
            )
            #expect(response.status == .unsupportedMediaType)
            #expect(response.error?.name == "UnsupportedMediaTypeError")
        }
    }

    @Test("application/json with a charset is accepted")
    func charset() async throws {
        try await withApp { client in
            let response = try await client.execute(
                uri: "/auth/register",
                method: .post,
                headers: [.contentType: "Application/JSON; charset=utf-8"],
                body: ByteBuffer(string: #"{"username":"abc","password":"long-enough"}"#)
            )
            #expect(response.status == .created)
        }
    }

    @Test("a body over 1 MiB is 413 PayloadTooLargeError")
    func tooLarge() async throws {
        try await withApp { client in
            let token = try await client.signUp("alice")
            let big = String(repeating: "x", count: 1_048_577)
            let response = try await client.execute(
                uri: "/notes",
                method: .post,
                headers: jsonHeaders(token),
                body: ByteBuffer(string: #"{"title":"t","body":"\#(big)"}"#)
            )
            #expect(response.status == .contentTooLarge)
            #expect(response.error?.name == "PayloadTooLargeError")
        }
    }
}
