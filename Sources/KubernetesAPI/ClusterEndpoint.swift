import KubeconfigBase
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

    /// Removes the credential this endpoint presents from what its server says.
    var redaction: CredentialRedaction {
        if case .token(let token) = credential { CredentialRedaction([token]) } else { .none }
    }
}
