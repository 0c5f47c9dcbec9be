/// How to reach and authenticate to one site's API server, as its kubeconfig entries say:
/// the server, exactly the CA to trust, and the credential to present.
public struct ClusterEndpoint: Sendable, Hashable {
    public enum Credential: Sendable, Hashable {
        case token(BearerToken)
        case clientCertificate(ClientIdentity)
        /// A credential this service cannot present (`exec`, `auth-provider`, a file path, none):
        /// the probe checks reachability only. The associated value names its kind.
        case unsupported(String)
    }

    /// `https://host:port[/prefix]`.
    public var server: String
    /// PEM bundle: the only roots the probe trusts.
    public var certificateAuthority: [UInt8]
    /// The name to verify the server's certificate against, instead of the URL's host.
    public var tlsServerName: String?
    public var credential: Credential

    public init(server: String, certificateAuthority: [UInt8], tlsServerName: String? = nil, credential: Credential) {
        self.server = server
        self.certificateAuthority = certificateAuthority
        self.tlsServerName = tlsServerName
        self.credential = credential
    }
}

/// What one probe of a site found.
public struct ProbeReport: Sendable, Equatable {
    /// A TLS connection verified with the site's CA was made, and the API server answered.
    public var reachable: Bool
    /// Whether the API server accepted the credential; nil when it could not be asked.
    public var authenticated: Bool?
    /// Who the credential authenticates as (SelfSubjectReview), when the server said.
    public var user: String?
    public var latency: Duration
    /// Why the site is not reachable or not authenticated, with a code an alert can match.
    public var error: ServiceError?

    public init(reachable: Bool, authenticated: Bool?, user: String? = nil, latency: Duration, error: ServiceError? = nil) {
        self.reachable = reachable
        self.authenticated = authenticated
        self.user = user
        self.latency = latency
        self.error = error
    }
}

/// Probes sites' API servers, each with its own CA and credential.
public protocol ClusterProbeAPI: Sendable {
    /// Connects to `endpoint` and asks who its credential is; never throws: a failure is a report.
    func probe(_ endpoint: ClusterEndpoint) async -> ProbeReport

    /// Lets go of connections to every endpoint not in `endpoints` (sites removed or changed).
    func retain(_ endpoints: [ClusterEndpoint]) async
}
