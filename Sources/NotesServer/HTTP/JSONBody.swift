import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NotesModels

extension Request {
    /// Decodes a JSON object body into `T`, in the contract's terms: 415 for another media
    /// type, 413 past 1 MiB, 400 `ValidationError` for anything that is not a JSON object of
    /// the right shape, with what is wrong per field in `details`.
    mutating func decodeJSON<T: Decodable>(_ type: T.Type, context: some RequestContext) async throws -> T {
        guard let contentType = headers[.contentType], Self.isJSON(contentType) else { throw APIError.unsupportedMediaType }
        if let length = headers[.contentLength].flatMap(Int.init), length > context.maxUploadSize {
            throw APIError.payloadTooLarge
        }
        let buffer: ByteBuffer
        do {
            buffer = try await collectBody(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw APIError.payloadTooLarge
        }
        return try Self.decodeJSONBody(T.self, from: Data(buffer.readableBytesView))
    }

    /// The body's bytes as `T`, or the contract's `ValidationError` for them.
    static func decodeJSONBody<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        // One parse: the decoder's own errors say whether the body was not JSON at all (data
        // corrupted at the top), not an object (type mismatch at the top) or a bad field.
        do {
            return try NotesJSON.decoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            switch error {
            case .dataCorrupted(let context) where context.codingPath.isEmpty:
                throw APIError.validation(["request": "is not valid JSON"], message: "request body is not valid JSON")
            case .typeMismatch(_, let context) where context.codingPath.isEmpty:
                throw APIError.validation(["request": "must be a JSON object"], message: "request body must be a JSON object")
            default:
                throw APIError.validation(Self.details(for: error))
            }
        }
    }

    /// `application/json`, with or without parameters such as `charset=utf-8`.
    static func isJSON(_ contentType: String) -> Bool {
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        return mediaType == "application/json"
    }

    static func details(for error: DecodingError) -> [String: String] {
        func field(_ path: [any CodingKey]) -> String {
            path.isEmpty ? "request" : path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return [field(context.codingPath + [key]): "is required"]
        case .typeMismatch(let type, let context):
            return [field(context.codingPath): "must be \(Self.describe(type))"]
        case .valueNotFound(let type, let context):
            return [field(context.codingPath): "must be \(Self.describe(type)), not null"]
        case .dataCorrupted(let context):
            return [field(context.codingPath): "is not valid"]
        @unknown default:
            return ["request": "is not valid"]
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is [String].Type: "an array of strings"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Double.Type: "a number"
        default: "of another type"
        }
    }
}

/// The contract's limits, one function per kind of field; each returns what is wrong or nil.
enum Validate {
    static func username(_ value: String) -> String? {
        guard NotesLimits.usernameLength.contains(value.count) else { return "must be 3 to 32 characters" }
        guard value.allSatisfy({ NotesLimits.usernameCharacters.contains($0) }) else {
            return "may only contain a-z, 0-9, '_', '.' and '-'"
        }
        return nil
    }

    static func password(_ value: String) -> String? {
        guard NotesLimits.passwordBytes.contains(value.utf8.count) else { return "must be 8 to 72 bytes" }
        // bcrypt reads a C string: everything after a NUL would be silently ignored.
        guard !value.utf8.contains(0) else { return "must not contain NUL characters" }
        return nil
    }

    static func title(_ value: String) -> String? {
        // Bytes first: counting Characters of a huge string is the expensive part.
        guard value.utf8.count <= NotesLimits.maxTitleBytes else { return "must be at most 1000 bytes of UTF-8" }
        guard NotesLimits.titleLength.contains(value.count) else { return "must be 1 to 200 characters" }
        guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            return "must not contain control characters"
        }
        return nil
    }

    static func body(_ value: String) -> String? {
        guard value.utf8.count <= NotesLimits.maxBodyBytes else { return "must be at most 262144 bytes of UTF-8" }
        guard value.count <= NotesLimits.maxBodyLength else { return "must be at most 100000 characters" }
        guard !value.unicodeScalars.contains("\u{0}") else { return "must not contain NUL characters" }
        return nil
    }

    static func tag(_ value: String) -> String? {
        guard NotesLimits.tagLength.contains(value.count), value.allSatisfy({ NotesLimits.tagCharacters.contains($0) }) else {
            return "must be 1 to 32 of a-z, 0-9, '_' and '-'"
        }
        return nil
    }

    /// A byte a tag may hold: `a-z 0-9 _ -`.
    static func isTagByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"): true
        default: false
        }
    }

    static func tags(_ values: [String]) -> String? {
        guard values.count <= NotesLimits.maxTags else { return "must have at most 20 tags" }
        for (index, value) in values.enumerated() {
            if let problem = tag(value) { return "tag \(index + 1) \(problem)" }
        }
        return nil
    }
}
