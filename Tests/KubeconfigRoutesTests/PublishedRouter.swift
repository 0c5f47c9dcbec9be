import KubeconfigServiceTestSupport
import KubernetesAPI
import Logging

@testable import KubeconfigRoutes
@testable import KubeconfigService

/// The router as route tests use it: over a publisher that has published `Fixtures.central`,
/// whose document is kept in memory, with no sockets and a discovery that points nowhere.
struct PublishedRouter {
    let store: InMemoryDocumentStore
    let publisher: SitePublisher
    let router: ServiceRouter

    /// - Parameters:
    ///   - reviewer: reviews callers' access; nil: every caller is let through.
    ///   - prober: probes sites before they are registered; nil: none is.
    ///   - tokens: where the central site's token comes from (issued tokens let callers ask for
    ///     theirs, at most `tokensPerMinute` each).
    init(
        reviewer: AccessReviewer? = nil, prober: (any ClusterProbeAPI)? = nil, tokens: any TokenSource = PodTokenSource(),
        tokensPerMinute: Int = 30
    ) {
        let logger = Logger(label: "test")
        var document = KubeconfigDocument()
        document.merge(Fixtures.central)
        store = InMemoryDocumentStore(text: document.yaml())
        publisher = SitePublisher(
            configuration: PublisherConfiguration(namespace: "onap"),
            credentials: InClusterDiscovery(environment: [:], serviceAccountDirectory: "/nonexistent"), tokens: tokens,
            updater: DocumentUpdater(store: store, logger: logger), logger: logger)
        publisher.state.succeeded(
            PublishedDocument(document: document, resourceVersion: "1"), server: Fixtures.central.server,
            token: PublishedToken(token: Fixtures.central.token, source: .pod), at: .now)
        router = ServiceRouter(
            publisher: publisher, registry: SiteRegistry(publisher: publisher, renewer: nil, prober: prober),
            reviewer: reviewer, siteTokens: (SiteTokenIssuer(publisher: publisher, renewer: nil), tokensPerMinute),
            logger: logger)
    }
}
