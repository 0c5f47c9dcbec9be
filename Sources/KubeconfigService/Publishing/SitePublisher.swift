import CoreMetrics
import Foundation
import KubernetesAPI
import Logging

/// Publishes this site's entries: reads its credentials and runs the `publish` edit through the
/// document's update loop.
///
/// Concurrent callers share the publication in flight (single flight), and all get its answer.
public final class SitePublisher: Sendable {
    public let configuration: PublisherConfiguration
    public let state: PublicationState
    private let credentials: any SiteCredentialSource
    private let updater: DocumentUpdater
    private let logger: Logger
    private let flight = SingleFlight<String, Publication>()
    private let metrics: Metrics

    public init(
        configuration: PublisherConfiguration, credentials: any SiteCredentialSource, updater: DocumentUpdater,
        state: PublicationState = PublicationState(), logger: Logger
    ) {
        self.configuration = configuration
        self.credentials = credentials
        self.updater = updater
        self.state = state
        self.logger = logger
        self.metrics = Metrics()
    }

    /// Publishes now, or joins the publication already under way.
    public func publish() async throws(ServiceError) -> PublicationResult {
        let state = state
        return try await flight.run(configuration.location) { () async throws(ServiceError) in
            try await self.runPublication()
        } commit: { outcome in
            // Readiness and served document change here, as the run ends: a caller who sees them
            // and publishes again starts a new publication.
            switch outcome {
            case .success(let publication):
                state.succeeded(
                    publication.document, server: publication.result.server, token: publication.token, at: Date())
            case .failure(let error):
                state.failed(error)
            }
        }.result
    }

    /// What one publication did, and what to record of it.
    private struct Publication: Sendable {
        var result: PublicationResult
        var document: PublishedDocument
        var token: BearerToken
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
        metrics.duration.recordNanoseconds(
            elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        var metadata: Logger.Metadata = [
            "configmap": "\(configuration.configMapReference)", "key": "\(configuration.key)",
            "site": "\(configuration.location)",
            "duration_ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
        ]
        switch result {
        case .success(let publication):
            let publication = publication.result
            (publication.changed ? metrics.changed : metrics.unchanged).increment()
            metrics.lastSuccess.record(Date().timeIntervalSince1970)
            metadata["outcome"] = "\(publication.changed ? "changed" : "unchanged")"
            metadata["resource_version"] = "\(publication.resourceVersion)"
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
        let credentials = try await credentials.credentials()
        let site = SiteEntries(
            location: configuration.location, user: configuration.user, server: credentials.server,
            certificateAuthority: credentials.certificateAuthority, token: credentials.token)
        let update = try await updater.update(.publish(site))
        let result = PublicationResult(
            site: configuration.location, namespace: configuration.namespace, configMap: configuration.configMapName,
            key: configuration.key, server: credentials.server, resourceVersion: update.document.resourceVersion,
            changed: update.changed)
        return Publication(result: result, document: update.document, token: credentials.token)
    }

    /// Metric handles, made once.
    private struct Metrics: Sendable {
        let changed = Counter(label: "kubeconfig_publications_total", dimensions: [("result", "changed")])
        let unchanged = Counter(label: "kubeconfig_publications_total", dimensions: [("result", "unchanged")])
        let failed = Counter(label: "kubeconfig_publications_total", dimensions: [("result", "failed")])
        let duration = Timer(label: "kubeconfig_publication_duration_seconds")
        let lastSuccess = Gauge(label: "kubeconfig_last_success_timestamp_seconds")
    }
}

extension SitePublisher {
    /// The publisher of a service running in the cluster: the pod's own credentials are published
    /// into the ConfigMap the configuration names, read and written with that same account.
    public static func inCluster(
        configuration: PublisherConfiguration, connection: InClusterConnection, logger: Logger
    ) -> SitePublisher {
        let store = ConfigMapDocumentStore(
            api: connection, namespace: configuration.namespace, name: configuration.configMapName,
            key: configuration.key)
        return SitePublisher(
            configuration: configuration, credentials: connection.discovery,
            updater: DocumentUpdater(store: store, logger: logger), logger: logger)
    }
}
