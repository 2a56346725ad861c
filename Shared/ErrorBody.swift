public import Foundation

/// The error names of the contract, after node's `jsonwebtoken` and `express-jwt`.
public enum ErrorName: String, Codable, Sendable, CaseIterable {
    case unauthorized = "UnauthorizedError"
    case tokenExpired = "TokenExpiredError"
    case notBefore = "NotBeforeError"
    case jsonWebToken = "JsonWebTokenError"
    case authentication = "AuthenticationError"
    case forbidden = "ForbiddenError"
    case validation = "ValidationError"
    case notFound = "NotFoundError"
    case methodNotAllowed = "MethodNotAllowedError"
    case conflict = "ConflictError"
    case preconditionFailed = "PreconditionFailedError"
    case payloadTooLarge = "PayloadTooLargeError"
    case unsupportedMediaType = "UnsupportedMediaTypeError"
    case tooManyRequests = "TooManyRequestsError"
    case internalServer = "InternalServerError"
    case serviceUnavailable = "ServiceUnavailableError"
}

/// Every error the server sends: `{"error": {"name", "message", ...extra}}`.
public struct ErrorBody: Codable, Sendable, Equatable {
    public var error: Detail

    public init(error: Detail) {
        self.error = error
    }

    /// The inside of an error body.
    ///
    /// `name` stays a `String` on the wire so that a client can still read an error name
    /// it does not know; `knownName` maps it to ``ErrorName``.
    public struct Detail: Codable, Sendable, Equatable {
        public var name: String
        public var message: String
        /// `TokenExpiredError`: the token's `exp`. Written as unix seconds; read from unix
        /// seconds or an ISO 8601 string, as node's jsonwebtoken serialises a `Date`.
        public var expiredAt: Date?
        /// `NotBeforeError`: the token's `nbf`, in the same format as `expiredAt`.
        public var date: Date?
        /// `ValidationError`: field name to what is wrong with it.
        public var details: [String: String]?
        /// `InternalServerError`: the id to quote when reading the server's log.
        public var requestId: String?

        public init(
            name: ErrorName,
            message: String,
            expiredAt: Date? = nil,
            date: Date? = nil,
            details: [String: String]? = nil,
            requestId: String? = nil
        ) {
            self.name = name.rawValue
            self.message = message
            self.expiredAt = expiredAt
            self.date = date
            self.details = details
            self.requestId = requestId
        }

        public var knownName: ErrorName? { ErrorName(rawValue: name) }

        private enum CodingKeys: String, CodingKey {
            case name, message, expiredAt, date, details, requestId
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.name = try container.decode(String.self, forKey: .name)
            self.message = try container.decode(String.self, forKey: .message)
            self.expiredAt = try Self.decodeInstant(container, .expiredAt)
            self.date = try Self.decodeInstant(container, .date)
            self.details = try container.decodeIfPresent([String: String].self, forKey: .details)
            self.requestId = try container.decodeIfPresent(String.self, forKey: .requestId)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(message, forKey: .message)
            try container.encodeIfPresent(expiredAt.map(Self.unixSeconds), forKey: .expiredAt)
            try container.encodeIfPresent(date.map(Self.unixSeconds), forKey: .date)
            try container.encodeIfPresent(details, forKey: .details)
            try container.encodeIfPresent(requestId, forKey: .requestId)
        }

        /// Whole unix seconds, clamped to what an Int64 holds: a token may carry any number
        /// (`exp: -1e300`), and writing it must never trap.
        static func unixSeconds(_ date: Date) -> Int64 {
            let seconds = date.timeIntervalSince1970.rounded(.down)
            if seconds.isNaN { return 0 }
            if seconds >= 9_223_372_036_854_775_808 { return .max }  // 2^63
            if seconds <= -9_223_372_036_854_775_808 { return .min }
            return Int64(seconds)
        }

        private static func decodeInstant(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Date? {
            guard container.contains(key), try !container.decodeNil(forKey: key) else { return nil }
            if let seconds = try? container.decode(Double.self, forKey: key) {
                return Date(timeIntervalSince1970: seconds)
            }
            let text = try container.decode(String.self, forKey: key)
            if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
                return date
            }
            if let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) {
                return date
            }
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "not a unix time or ISO 8601 date: \(text)")
        }
    }
}
