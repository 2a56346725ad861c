public import AsyncHTTPClient

/// Makes a resource, runs `body` with it, and releases it on every path: when `body`
/// returns, and when it throws (the release's own error then gives way to `body`'s).
public func using<Resource, T>(
    _ make: () async throws -> Resource,
    release: (Resource) async throws -> Void,
    _ body: (Resource) async throws -> T
) async throws -> T {
    let resource = try await make()
    let result: T
    do {
        result = try await body(resource)
    } catch {
        try? await release(resource)
        throw error
    }
    try await release(resource)
    return result
}

/// An `HTTPClient` for `body`, shut down afterwards however `body` ends.
public func withHTTPClient<T>(
    configuration: HTTPClient.Configuration = HTTPClient.Configuration(),
    _ body: (HTTPClient) async throws -> T
) async throws -> T {
    try await using({ HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration) }, release: { try await $0.shutdown() }, body)
}
