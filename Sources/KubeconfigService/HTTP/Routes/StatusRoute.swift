import Foundation
import HTTPMessages

/// `GET /status`: what the publisher last did; the token only as its fingerprint.
struct StatusRoute: RouteHandler {
    let publisher: SitePublisher

    private struct Body: Encodable {
        struct LastError: Encodable {
            var code: String
            var message: String
        }
        var location, namespace, configMap, key: String
        var server: String?
        var lastAttempt, lastSuccess, nextRefresh: Date?
        var lastError: LastError?
        var resourceVersion: String?
        var tokenFingerprint: String?
    }

    func handle(_ request: HTTPServerRequest) -> HTTPServerResult {
        let snapshot = publisher.state.snapshot
        let configuration = publisher.configuration
        let body = Body(
            location: configuration.location, namespace: configuration.namespace, configMap: configuration.configMapName,
            key: configuration.key, server: snapshot.server, lastAttempt: snapshot.lastAttempt,
            lastSuccess: snapshot.lastSuccess, nextRefresh: snapshot.nextRefresh,
            lastError: snapshot.lastError.map { .init(code: $0.code.rawValue, message: $0.message) },
            resourceVersion: snapshot.published?.resourceVersion, tokenFingerprint: snapshot.tokenFingerprint)
        return .response(.json(.ok, JSONBody.encode(body)))
    }
}
