import Foundation
import Logging
import Metrics

/// Builds this site's entries from what the pod was given and merges them into the ConfigMap.
///
/// One publication reads the ConfigMap, merges, and writes the one data key back with a merge
/// patch conditional on the `resourceVersion` it read; a conflict starts again from a fresh
/// read, so a concurrent writer's entries are kept. Concurrent callers share the publication
/// in flight (single flight), and all get its answer.
public actor SitePublisher {
    public nonisolated let configuration: PublisherConfiguration
    public nonisolated let state: PublicationState
    private let discovery: InClusterDiscovery
    private let clients: KubernetesClientProvider
    private let logger: Logger
    private var inFlight: Task<Result<PublicationResult, ServiceError>, Never>?

    public init(
        configuration: PublisherConfiguration, discovery: InClusterDiscovery, clients: KubernetesClientProvider,
        state: PublicationState = PublicationState(), logger: Logger
    ) {
        self.configuration = configuration
        self.discovery = discovery
        self.clients = clients
        self.state = state
        self.logger = logger
    }

    /// Publishes now, or joins the publication already under way.
    public func publish() async throws(ServiceError) -> PublicationResult {
        let task: Task<Result<PublicationResult, ServiceError>, Never>
        if let inFlight {
            task = inFlight
        } else {
            task = Task { await self.runPublication() }
            inFlight = task
        }
        let result = await task.value
        if inFlight == task { inFlight = nil }
        return try result.get()
    }

    private func runPublication() async -> Result<PublicationResult, ServiceError> {
        let clock = ContinuousClock()
        let started = clock.now
        state.attempted(at: Date())
        let result: Result<PublicationResult, ServiceError>
        do throws(ServiceError) {
            result = .success(try await publishOnce())
        } catch {
            result = .failure(error)
        }
        let elapsed = clock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        Timer(label: "kubeconfig_publication_duration_seconds").recordNanoseconds(
            elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        var metadata: Logger.Metadata = [
            "configmap": "\(configuration.configMapReference)", "key": "\(configuration.key)",
            "site": "\(configuration.location)", "duration_ms": "\(Int(seconds * 1000))",
        ]
        switch result {
        case .success(let publication):
            Counter(
                label: "kubeconfig_publications_total", dimensions: [("result", publication.changed ? "changed" : "unchanged")]
            )
            .increment()
            Gauge(label: "kubeconfig_last_success_timestamp_seconds").record(Date().timeIntervalSince1970)
            metadata["outcome"] = "\(publication.changed ? "changed" : "unchanged")"
            metadata["resource_version"] = "\(publication.resourceVersion)"
            logger.info("publication succeeded", metadata: metadata)
        case .failure(let error):
            state.failed(error)
            Counter(label: "kubeconfig_publications_total", dimensions: [("result", "failed")]).increment()
            metadata["outcome"] = "failed"
            metadata["error_code"] = "\(error.code)"
            metadata["error"] = "\(error.message)"
            logger.warning("publication failed", metadata: metadata)
        }
        return result
    }

    private func publishOnce() async throws(ServiceError) -> PublicationResult {
        let credentials = try discovery.credentials()
        let client = try await clients.client(for: credentials)
        let site = SiteEntries(
            location: configuration.location, user: configuration.user, server: credentials.server,
            certificateAuthority: credentials.certificateAuthority, token: credentials.token)
        let namespace = configuration.namespace
        let name = configuration.configMapName
        let key = configuration.key
        let origin = "key \"\(key)\" of configmap \(configuration.configMapReference)"

        var lastConflict: ServiceError?
        for _ in 0..<max(1, configuration.conflictAttempts) {
            let configMap = try await notFoundAsMissingConfigMap { () async throws(ServiceError) in
                try await client.configMap(namespace: namespace, name: name, token: credentials.token, retry: configuration.retry)
            }
            let stored = try KubeconfigDocument(parsing: configMap.data?[key] ?? "", origin: origin)
            var merged = stored
            merged.merge(site)
            if merged == stored, configMap.data?[key] != nil {
                record(PublishedDocument(document: stored, resourceVersion: configMap.metadata.resourceVersion), credentials)
                return result(server: credentials.server, resourceVersion: configMap.metadata.resourceVersion, changed: false)
            }
            var published = PublishedDocument(document: merged, resourceVersion: "")
            do throws(ServiceError) {
                let written = try await notFoundAsMissingConfigMap { () async throws(ServiceError) in
                    try await client.patchConfigMapData(
                        namespace: namespace, name: name, key: key, value: String(decoding: published.yaml, as: UTF8.self),
                        resourceVersion: configMap.metadata.resourceVersion, token: credentials.token,
                        retry: configuration.retry)
                }
                published.resourceVersion = written.metadata.resourceVersion
                record(published, credentials)
                return result(server: credentials.server, resourceVersion: written.metadata.resourceVersion, changed: true)
            } catch  where error.code == .apiConflict {
                logger.debug("configmap changed under us; merging again from a fresh read")
                Counter(label: "kubeconfig_publication_conflicts_total").increment()
                lastConflict = error
            }
        }
        throw ServiceError(
            code: .conflict,
            message: "configmap \(configuration.configMapReference) kept changing during \(configuration.conflictAttempts) "
                + "read-merge-write rounds: \(lastConflict?.message ?? "conflict")")
    }

    private func record(_ document: PublishedDocument, _ credentials: ClusterCredentials) {
        state.succeeded(document, server: credentials.server, token: credentials.token, at: Date())
    }

    private func result(server: String, resourceVersion: String, changed: Bool) -> PublicationResult {
        PublicationResult(
            site: configuration.location, namespace: configuration.namespace, configMap: configuration.configMapName,
            key: configuration.key, server: server, resourceVersion: resourceVersion, changed: changed)
    }

    private func notFoundAsMissingConfigMap<T>(_ body: () async throws(ServiceError) -> T) async throws(ServiceError) -> T {
        do throws(ServiceError) {
            return try await body()
        } catch  where error.code == .apiNotFound {
            throw ServiceError(
                code: .configMapNotFound,
                message: "configmap \(configuration.configMapReference) not found; it is created by the Helm release, "
                    + "never by this service (\(error.message))")
        }
    }
}
