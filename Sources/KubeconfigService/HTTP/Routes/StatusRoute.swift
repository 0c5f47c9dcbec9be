import Foundation
import HTTPMessages

/// `GET /status`: what the publisher last did; the token only as its source, subject, times and
/// fingerprint.
struct StatusRoute: RouteHandler {
    let publisher: SitePublisher

    private struct Body: Encodable {
        var location, namespace, key: String
        var configMap, secret: String?
        var server: String?
        var lastAttempt, lastSuccess, nextRefresh: Date?
        var lastError: ReportedError?
        var resourceVersion: String?
        var tokenSource: PublishedToken.Source?
        var tokenSubject: String?
        var tokenFingerprint: String?
        var tokenExpiresAt, tokenRenewsAt: Date?
        var renewalError: ReportedError?
    }

    func handle(_ request: HTTPServerRequest) -> HTTPServerResult {
        let snapshot = publisher.state.snapshot
        let configuration = publisher.configuration
        let token = snapshot.token
        let body = Body(
            location: configuration.location, namespace: configuration.namespace, key: configuration.key,
            configMap: configuration.secretName == nil ? configuration.configMapName : nil,
            secret: configuration.secretName, server: snapshot.server, lastAttempt: snapshot.lastAttempt,
            lastSuccess: snapshot.lastSuccess, nextRefresh: snapshot.nextRefresh,
            lastError: snapshot.lastError.map(ReportedError.init), resourceVersion: snapshot.published?.resourceVersion,
            tokenSource: token?.source, tokenSubject: token?.subject, tokenFingerprint: token?.fingerprint,
            tokenExpiresAt: token?.expiresAt, tokenRenewsAt: token?.renewsAt,
            renewalError: token?.renewalError.map(ReportedError.init))
        return .response(.json(.ok, JSONBody.encode(body)))
    }
}
