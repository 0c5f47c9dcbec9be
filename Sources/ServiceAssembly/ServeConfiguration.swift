import FoundationEssentials
import KubeconfigService
import MicroHTTPServer

/// What `serve` runs with: what its flags decide, the namespace already resolved.
public struct ServeConfiguration: Sendable {
    /// Who may read the document and trigger publication.
    public enum AuthMode: String, CaseIterable, Sendable {
        /// TokenReview and SubjectAccessReview against the home cluster.
        case kubernetes
        /// Anyone who can reach the port.
        case none
    }

    /// The document's object and this site's entries in it.
    public var publisher: PublisherConfiguration
    /// The account an issued token is requested for; nil publishes the pod's own token.
    public var issuedTokens: IssuedTokenSource.Configuration?
    /// Who may read the document and trigger publication.
    public var auth: AuthMode = .kubernetes
    /// With `auth` kubernetes, the audiences callers' tokens must be issued for (empty: the API server's).
    public var authTokenAudiences: [String] = []
    /// Time between passes that re-read the token and CA and repair the entries; nil: no passes.
    public var refreshInterval: Duration? = .seconds(60)
    /// Whether the document's object is watched (other writers' changes served, ours repaired).
    public var watch = true
    /// Time between health probes of every site; nil: no probes.
    public var siteProbeInterval: Duration? = .seconds(60)
    /// Site probes holding a slot at once, at most.
    public var siteProbeConcurrency = 8
    /// Secret that keeps managed sites' bootstrap credentials; nil: sites bring their own.
    public var credentialsSecret: String?
    /// How long a bootstrap credential no site's record names is kept, in seconds.
    public var credentialGracePeriod: TimeInterval = 30
    /// Lifetimes of the tokens callers ask for (`POST /sites/{name}/token`).
    public var callerTokenLifetimes = SiteTokenIssuer.Lifetimes()
    /// Tokens one caller may ask of one site a minute.
    public var callerTokensPerMinute = 30
    /// The Secrets written per site (Argo CD clusters, kubeconfig Secrets); none by default.
    public var sinks: [SinkConfiguration] = []
    /// The labels of the site this service publishes (`--site-label`), as sinks copy and select them.
    public var siteLabels: [String: String] = [:]
    /// The URL callers reach the service at, which exec kubeconfigs' plugin asks; nil: none are served.
    public var publicURL: String?
    /// The HTTP server's address, port, threads and limits; its TLS identity comes from `tls`.
    public var server = HTTPServerConfiguration()
    /// The certificate files served, and followed, over HTTPS; nil serves plain HTTP.
    public var tls: TLSFiles?
    /// Time between checks of the TLS files for a renewed certificate.
    public var tlsReloadInterval: Duration = .seconds(10)

    public init(publisher: PublisherConfiguration) {
        self.publisher = publisher
    }
}
