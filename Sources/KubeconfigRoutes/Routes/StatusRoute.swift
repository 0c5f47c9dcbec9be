import FoundationEssentials
import HTTPMessages
import HTTPTypes
import KubeconfigBase
import KubeconfigService

/// `GET /status`: what the publisher last did; the token only as its source, subject, times and
/// fingerprint.
struct StatusRoute: RouteHandler {
    let publisher: SitePublisher
    /// Managed sites' renewer: its last check of the invariants; nil without a credentials Secret.
    var renewer: SiteTokenRenewer?
    /// The sinks: each one's namespace, watch and last pass.
    var sinks: [SecretSink] = []

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
        var watch: Watch?
        var managedSites: ManagedSitesReport?
        var sinks: [SecretSink.Status]?
    }

    private struct Watch: Encodable {
        var state: PublicationState.WatchStatus.Phase
        var resourceVersion: String?
        var lastEvent: Date?
        var lastError: ReportedError?
        var objectDeleted: Bool

        init(_ status: PublicationState.WatchStatus) {
            state = status.phase
            resourceVersion = status.resourceVersion
            lastEvent = status.lastEvent
            lastError = status.lastError.map(ReportedError.init)
            objectDeleted = status.objectDeleted
        }
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
            renewalError: token?.renewalError.map(ReportedError.init), watch: snapshot.watch.map(Watch.init),
            managedSites: renewer?.managedSitesReport(), sinks: sinks.isEmpty ? nil : sinks.map(\.status))
        return .response(.json(.ok, JSONBody.encode(body)))
    }
}
