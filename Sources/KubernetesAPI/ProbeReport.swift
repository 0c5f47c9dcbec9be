import KubeconfigBase
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
