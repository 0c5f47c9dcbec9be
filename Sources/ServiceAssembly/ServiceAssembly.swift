import KubeconfigRoutes
import KubeconfigService
import KubernetesAPI
import Logging

/// What `serve` runs, built from its configuration: the publisher, the access review, managed
/// sites' renewer and registry, the site probes, the document watch and the router in front of
/// them.
///
/// Building one starts nothing: `listen()` binds the port and `serve(on:)` runs the services, so
/// a test can build the service against in-memory connections and call its router.
public struct ServiceAssembly: Sendable {
    public let configuration: ServeConfiguration
    public let connections: ClusterConnections
    /// Publishes this site's entries; its update loop is every writer's.
    public let publisher: SitePublisher
    /// Reviews callers' tokens; nil with `--auth none`.
    public let reviewer: AccessReviewer?
    /// Issues and renews managed sites' tokens; nil without a credentials Secret.
    public let renewer: SiteTokenRenewer?
    /// Registers and removes remote sites through the publisher's update loop.
    public let registry: SiteRegistry
    /// Probes every site in the document; nil when probes are off.
    public let monitor: SiteHealthMonitor?
    /// Follows the document's object; nil when the watch is off.
    public let watcher: DocumentWatcher?
    /// Write each site's Secret in their formats; empty without `--argocd-secrets` or
    /// `--kubeconfig-secrets`.
    public let sinks: [SecretSink]
    /// The route table the HTTP server calls.
    public let router: ServiceRouter
    let logger: Logger

    /// - Parameter metrics: the text `/metrics` serves; nil: no metrics route.
    public init(
        configuration: ServeConfiguration, connections: ClusterConnections, metrics: (@Sendable () -> String)?,
        logger: Logger
    ) {
        self.configuration = configuration
        self.connections = connections
        self.logger = logger
        let publisher = connections.publisher(
            configuration: configuration.publisher, issuedTokens: configuration.issuedTokens, logger: logger)
        let reviewer = Self.reviewer(configuration, connections, logger)
        let renewer = Self.renewer(configuration, connections, publisher, logger)
        let monitor = Self.monitor(configuration, connections, publisher, renewer, logger)
        let registry = SiteRegistry(publisher: publisher, renewer: renewer, prober: connections.remote)
        self.publisher = publisher
        self.reviewer = reviewer
        self.renewer = renewer
        self.registry = registry
        self.monitor = monitor
        self.watcher = Self.watcher(configuration, publisher, monitor, logger)
        let sinks = Self.sinks(configuration, connections, publisher, logger)
        self.sinks = sinks
        // Tokens are minted for callers only when callers are reviewed: never for anyone who asks.
        let siteTokens = reviewer.map { _ in
            (
                issuer: SiteTokenIssuer(
                    publisher: publisher, renewer: renewer, lifetimes: configuration.callerTokenLifetimes),
                perMinute: configuration.callerTokensPerMinute
            )
        }
        self.router = ServiceRouter(
            publisher: publisher, registry: registry, reviewer: reviewer, monitor: monitor, renewer: renewer,
            metrics: metrics, siteTokens: siteTokens,
            credentialPlugin: configuration.publicURL.map(KubeconfigDocument.CredentialPlugin.init(serviceURL:)),
            sinks: sinks, centralLabels: configuration.siteLabels, logger: logger)
    }

    // MARK: - Parts

    private static func reviewer(
        _ configuration: ServeConfiguration, _ connections: ClusterConnections, _ logger: Logger
    ) -> AccessReviewer? {
        let document = configuration.publisher
        switch configuration.auth {
        case .kubernetes:
            return AccessReviewer(
                namespace: document.namespace, resource: document.resource, name: document.objectName,
                api: connections.home, audiences: configuration.authTokenAudiences, logger: logger)
        case .none:
            logger.warning(
                "authorisation is off (--auth none): anyone who can reach this port can read the kubeconfig and its token")
            return nil
        }
    }

    private static func renewer(
        _ configuration: ServeConfiguration, _ connections: ClusterConnections, _ publisher: SitePublisher,
        _ logger: Logger
    ) -> SiteTokenRenewer? {
        guard let name = configuration.credentialsSecret else { return nil }
        // Checks at least as often as the refresh passes, and at least every minute.
        let checkInterval = max(.seconds(1), min(configuration.refreshInterval ?? .seconds(60), .seconds(60)))
        return SiteTokenRenewer(
            credentials: SiteCredentialStore(
                api: connections.home, namespace: configuration.publisher.namespace, name: name, logger: logger),
            remote: connections.remote, updater: publisher.updater, state: publisher.state,
            gracePeriod: configuration.credentialGracePeriod, maxCheckInterval: checkInterval, logger: logger)
    }

    private static func monitor(
        _ configuration: ServeConfiguration, _ connections: ClusterConnections, _ publisher: SitePublisher,
        _ renewer: SiteTokenRenewer?, _ logger: Logger
    ) -> SiteHealthMonitor? {
        guard configuration.siteProbeInterval != nil else { return nil }
        return SiteHealthMonitor(
            state: publisher.state, location: configuration.publisher.location, prober: connections.remote,
            concurrency: configuration.siteProbeConcurrency,
            rejected: { site, fingerprint in renewer?.credentialRejected(site: site, fingerprint: fingerprint) },
            recovered: { site in renewer?.siteRecovered(site) },
            logger: logger)
    }

    private static func sinks(
        _ configuration: ServeConfiguration, _ connections: ClusterConnections, _ publisher: SitePublisher,
        _ logger: Logger
    ) -> [SecretSink] {
        guard !configuration.sinks.isEmpty else { return [] }
        guard let api = connections.home as? any SecretSinkAPI else {
            logger.error("the home cluster's connection cannot write Secrets: no sink runs")
            return []
        }
        let document = configuration.publisher
        return configuration.sinks.map { sink in
            SecretSink(
                derivation: SinkDerivation(
                    sink: sink, document: document.objectReference, location: document.location,
                    centralLabels: configuration.siteLabels),
                api: api, state: publisher.state, logger: logger)
        }
    }

    private static func watcher(
        _ configuration: ServeConfiguration, _ publisher: SitePublisher, _ monitor: SiteHealthMonitor?,
        _ logger: Logger
    ) -> DocumentWatcher? {
        guard configuration.watch, let store = publisher.updater.store as? any WatchableDocumentStore else { return nil }
        // Sites another writer added are probed at once, not at the next pass.
        var probeChanged: (@Sendable () -> Void)?
        if let monitor { probeChanged = { monitor.probeChanged() } }
        return DocumentWatcher(store: store, publisher: publisher, served: probeChanged, logger: logger)
    }
}
