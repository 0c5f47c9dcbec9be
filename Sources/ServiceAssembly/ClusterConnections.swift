import KubeconfigService
import KubernetesAPI
import Logging

/// The API servers the service calls: its own cluster's, with the pod's service account, and
/// remote sites', each with the site's own server, CA and credential.
public struct ClusterConnections: Sendable {
    /// The home cluster: the document's object, access reviews, issued tokens; and the watch of
    /// the document's object, when it is also a `DataObjectWatchAPI`.
    public var home: any DataObjectAPI & AccessReviewAPI & TokenRequestAPI
    /// The server, CA and pod token this site publishes.
    public var site: any SiteCredentialSource
    /// Remote sites: health probes and managed sites' token requests.
    public var remote: any ClusterProbeAPI & RemoteTokenRequestAPI
    /// Closes pooled connections, once nothing calls any more.
    public var shutdown: @Sendable () async -> Void

    public init(
        home: any DataObjectAPI & AccessReviewAPI & TokenRequestAPI, site: any SiteCredentialSource,
        remote: any ClusterProbeAPI & RemoteTokenRequestAPI, shutdown: @escaping @Sendable () async -> Void = {}
    ) {
        self.home = home
        self.site = site
        self.remote = remote
        self.shutdown = shutdown
    }

    /// The connections of a service running in the cluster: the home cluster through the
    /// service account folder `discovery` reads (token and CA re-read at every call).
    /// - Parameter requestTimeout: of each request to the API server, and of each site probe.
    public static func inCluster(
        discovery: InClusterDiscovery, requestTimeout: Duration, logger: Logger
    ) -> ClusterConnections {
        let clients = KubernetesClientProvider(requestTimeout: requestTimeout, logger: logger)
        let remote = RemoteClusters(timeout: requestTimeout, logger: logger)
        return ClusterConnections(
            home: InClusterConnection(discovery: discovery, clients: clients), site: discovery, remote: remote,
            shutdown: {
                await clients.shutdown()
                await remote.shutdown()
            })
    }

    /// The publisher of this site into the home cluster's object `configuration` names, read and
    /// written with the home connection; the token is the pod's, or one issued for `issuedTokens`'
    /// account.
    public func publisher(
        configuration: PublisherConfiguration, issuedTokens: IssuedTokenSource.Configuration?, logger: Logger
    ) -> SitePublisher {
        let store = ObjectDocumentStore(
            api: home, resource: configuration.resource, namespace: configuration.namespace,
            name: configuration.objectName, key: configuration.key)
        let tokens: any TokenSource =
            issuedTokens.map { IssuedTokenSource(configuration: $0, tokens: home, reviews: home, logger: logger) }
            ?? PodTokenSource()
        return SitePublisher(
            configuration: configuration, credentials: site, tokens: tokens,
            updater: DocumentUpdater(store: store, logger: logger), logger: logger)
    }
}
