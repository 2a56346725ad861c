import Foundation
import Hummingbird
import JWTKit
import Logging
import NIOCore
import NotesModels

/// The public, unauthenticated documents: health, the JWKS and the OpenAPI description.
struct WellKnownController: Sendable {
    let ping: @Sendable () async throws -> Void
    let ring: KeyRing
    let now: @Sendable () -> Date
    let openAPI: ByteBuffer

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("health", use: health)
        router.get(".well-known/jwks.json", use: jwks)
        router.get("openapi.yaml", use: openapi)
    }

    @Sendable func health(request: Request, context: AppRequestContext) async throws -> Response {
        do {
            try await ping()
            return Self.healthResponse(.ok, "ok")
        } catch {
            context.logger.error("health check: database does not answer", metadata: ["error": .string(String(describing: error))])
            return Self.healthResponse(.serviceUnavailable, "unavailable")
        }
    }

    /// `{"status":"…"}` and a newline: `/health` is the answer people read raw
    /// (`curl -s …/health`), and the shell prompt should not land on the same line.
    static func healthResponse(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var data = (try? NotesJSON.encoder().encode(HealthStatus(status: text))) ?? Data(#"{"status":"\#(text)"}"#.utf8)
        data.append(UInt8(ascii: "\n"))
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    struct KeySet: Encodable {
        var keys: [JWK]
    }

    @Sendable func jwks(request: Request, context: AppRequestContext) async throws -> Response {
        var response = APIError.jsonResponse(status: .ok, body: KeySet(keys: ring.publicJWKs(at: now())))
        // Never cached for longer than a new key waits before it signs, so every verifier has
        // fetched it by then.
        response.headers[.cacheControl] = "public, max-age=\(min(300, ring.publishDelay))"
        return response
    }

    @Sendable func openapi(request: Request, context: AppRequestContext) async throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"], body: .init(byteBuffer: openAPI))
    }
}
