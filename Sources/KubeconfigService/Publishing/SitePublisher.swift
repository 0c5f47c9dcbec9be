import CoreMetrics
import FoundationEssentials
import KubeconfigBase
import KubernetesAPI
import Logging
import Synchronization

/// Publishes this site's entries: reads the cluster's server and CA, takes the token its source
/// chooses for what the document holds, and runs the edit through the document's update loop.
///
/// Concurrent callers share the publication in flight (single flight), and all get its answer.
public final class SitePublisher: Sendable {
    public let configuration: PublisherConfiguration
    public let state: PublicationState
    private let credentials: any SiteCredentialSource
    private let tokens: any TokenSource
    /// The source of the central site's token when it is issued here (not the pod's own).
    public var issuedTokens: IssuedTokenSource? { tokens as? IssuedTokenSource }
    /// The document's update loop, which the site registry and the site token renewer share.
    public let updater: DocumentUpdater
    private let logger: Logger
    private let flight = SingleFlight<String, Publication>()
    private let metrics: Metrics
    /// What the last round of the publish edit put in the document: what a watched change is
    /// checked against.
    let intended = Mutex<IntendedEntries?>(nil)

    public init(
        configuration: PublisherConfiguration, credentials: any SiteCredentialSource,
        tokens: any TokenSource = PodTokenSource(), updater: DocumentUpdater, state: PublicationState = PublicationState(),
        logger: Logger
    ) {
        self.configuration = configuration
        self.credentials = credentials
        self.tokens = tokens
        self.updater = updater
        self.state = state
        self.logger = logger
        self.metrics = Metrics()
    }

    /// Publishes now, or joins the publication already under way.
    public func publish() async throws(ServiceError) -> PublicationResult {
        let state = state
        let metrics = metrics
        return try await flight.run(configuration.location) { () async throws(ServiceError) in
            try await self.runPublication()
        } commit: { outcome in
            // Readiness and served document change here, as the run ends: a caller who sees them
            // and publishes again starts a new publication.
            switch outcome {
            case .success(let publication):
                state.succeeded(
                    publication.document, server: publication.result.server, token: publication.token, at: Date())
                publication.token.expiresAt.map { metrics.tokenExpiry.record($0.timeIntervalSince1970) }
            case .failure(let error):
                state.failed(error)
            }
        }.result
    }

    /// What one publication did, and what to record of it.
    private struct Publication: Sendable {
        var result: PublicationResult
        var document: PublishedDocument
        var token: PublishedToken
        /// Parsing, merging and rendering: the publication's own work, without the API server's.
        var localDuration: Duration
    }

    private func runPublication() async throws(ServiceError) -> Publication {
        let clock = ContinuousClock()
        let started = clock.now
        state.attempted(at: Date())
        let result: Result<Publication, ServiceError>
        do throws(ServiceError) {
            result = .success(try await publishOnce())
        } catch {
            result = .failure(error)
        }
        let elapsed = clock.now - started
        metrics.duration.recordNanoseconds(elapsed.nanoseconds)
        var metadata: Logger.Metadata = [
            "object": "\(configuration.objectReference)", "key": "\(configuration.key)",
            "site": "\(configuration.location)",
            "duration_ms": "\(elapsed.wholeMilliseconds)",
        ]
        switch result {
        case .success(let publication):
            metadata["local_ms"] = "\(publication.localDuration.milliseconds)"
            let publication = publication.result
            (publication.changed ? metrics.changed : metrics.unchanged).increment()
            metrics.lastSuccess.record(Date().timeIntervalSince1970)
            metadata["outcome"] = "\(publication.changed ? "changed" : "unchanged")"
            metadata["resource_version"] = "\(publication.resourceVersion)"
            // The token source logs a failed renewal once; each retry's publication says so here.
            if let renewal = publication.renewalError {
                metadata["renewal_error_code"] = "\(renewal.code)"
            }
            logger.info("publication succeeded", metadata: metadata)
        case .failure(let error):
            metrics.failed.increment()
            metadata["outcome"] = "failed"
            metadata["error_code"] = "\(error.code)"
            metadata["error"] = "\(error.message)"
            logger.warning("publication failed", metadata: metadata)
        }
        return try result.get()
    }

    private func publishOnce() async throws(ServiceError) -> Publication {
        let cluster = try await credentials.credentials()
        let (update, token) = try await updater.update(returning: publishEdit(cluster: cluster))
        let result = PublicationResult(
            site: configuration.location, namespace: configuration.namespace,
            configMap: configuration.secretName == nil ? configuration.configMapName : nil,
            secret: configuration.secretName, key: configuration.key, server: cluster.server,
            resourceVersion: update.document.resourceVersion, changed: update.changed, tokenSource: token.source,
            tokenExpiresAt: token.expiresAt, tokenRenewsAt: token.renewsAt,
            renewalError: token.renewalError.map(ReportedError.init))
        return Publication(result: result, document: update.document, token: token, localDuration: update.localDuration)
    }

    /// Our cluster, user and context, with the token the source chooses for what the document
    /// holds in this round; the edit returns that choice.
    private func publishEdit(cluster: ClusterCredentials) -> DocumentEdit<PublishedToken> {
        let configuration = configuration
        let tokens = tokens
        let annotationKey = TokenRecord.annotationKey(location: configuration.location)
        return DocumentEdit("publish site \(configuration.location)") { (content: inout DocumentContent) throws(ServiceError) in
            let stored = StoredToken(
                token: content.kubeconfig.token(ofUser: configuration.user).map(BearerToken.init),
                record: content.annotations[annotationKey].flatMap(TokenRecord.init(annotation:)))
            let token = try await tokens.token(for: stored, cluster: cluster)
            let entries = SiteEntries(
                location: configuration.location, user: configuration.user, server: cluster.server,
                certificateAuthority: cluster.certificateAuthority, token: token.token)
            content.kubeconfig.merge(entries)
            content.annotations[annotationKey] = token.record?.annotation
            self.intended.withLock {
                $0 = IntendedEntries(entries: entries, annotationKey: annotationKey, annotation: token.record?.annotation)
            }
            return token
        }
    }

    /// Metric handles, made once.
    private struct Metrics: Sendable {
        let changed = Counter(label: "kubeconfig_publications_total", dimensions: [("result", "changed")])
        let unchanged = Counter(label: "kubeconfig_publications_total", dimensions: [("result", "unchanged")])
        let failed = Counter(label: "kubeconfig_publications_total", dimensions: [("result", "failed")])
        let duration = Timer(label: "kubeconfig_publication_duration_seconds")
        let lastSuccess = Gauge(label: "kubeconfig_last_success_timestamp_seconds")
        /// Expiry of the published token (the claims' for the pod's own).
        let tokenExpiry = Gauge(label: "kubeconfig_token_expiry_timestamp_seconds")
    }

}
