import FoundationEssentials
import KubernetesAPI

/// What a managed site's tokens are issued for: an account of that site, their lifetime and
/// audiences. Kept with the site's bootstrap credential in the credentials Secret.
public struct TokenRequestSpec: Sendable, Hashable, Codable {
    /// The account on the remote cluster tokens are issued for (the deployer).
    public var serviceAccount: String
    public var namespace: String
    /// The lifetime asked for (600 to 2^32 seconds); the API server may grant less.
    public var expirationSeconds: Int
    /// Audiences asked for; empty means that API server's own.
    public var audiences: [String]

    public init(serviceAccount: String, namespace: String, expirationSeconds: Int = 3600, audiences: [String] = []) {
        self.serviceAccount = serviceAccount
        self.namespace = namespace
        self.expirationSeconds = expirationSeconds
        self.audiences = audiences
    }

    /// `system:serviceaccount:ns:name`: who the issued tokens authenticate as.
    public var subject: String { "system:serviceaccount:\(namespace):\(serviceAccount)" }

    /// Checks every field, naming the offending one under `prefix` (`tokenRequest.`).
    func validate(prefix: String) throws(ServiceError) {
        guard SiteRegistration.isDNSSubdomain(serviceAccount) else {
            throw SiteRegistration.invalid("\(prefix)serviceAccount", "must be a service account name (a DNS-1123 subdomain)")
        }
        try SiteRegistration.checkNamespace(namespace, field: "\(prefix)namespace")
        guard (600...(1 << 32)).contains(expirationSeconds) else {
            throw SiteRegistration.invalid(
                "\(prefix)expirationSeconds", "must be at least 600 (the API's minimum) and at most 2^32")
        }
        for audience in audiences where audience.isEmpty || !audience.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) {
            throw SiteRegistration.invalid("\(prefix)audiences", "must be non-empty printable ASCII without whitespace")
        }
    }
}

/// A managed site's entry in the credentials Secret: where and how to renew its token. Never in
/// the shared document, never in an answer or a log.
///
/// It holds the site's server and CA as registered: a token request goes there, whatever the
/// document's cluster entry says later, so someone who may edit the document cannot redirect
/// the bootstrap credential to a server of their choosing.
public struct ManagedCredential: Sendable, Hashable, Codable {
    /// The narrow credential allowed only to create tokens for `tokenRequest.serviceAccount`.
    public var bootstrapToken: BearerToken
    public var tokenRequest: TokenRequestSpec
    public var server: String
    /// The CA bundle (PEM) the site's server is verified with.
    public var certificateAuthority: [UInt8]
    public var tlsServerName: String?

    public init(
        bootstrapToken: BearerToken, tokenRequest: TokenRequestSpec, server: String, certificateAuthority: [UInt8],
        tlsServerName: String?
    ) {
        self.bootstrapToken = bootstrapToken
        self.tokenRequest = tokenRequest
        self.server = server
        self.certificateAuthority = certificateAuthority
        self.tlsServerName = tlsServerName
    }

    /// Where token requests go, with the bootstrap credential.
    public var endpoint: ClusterEndpoint {
        ClusterEndpoint(
            server: server, certificateAuthority: certificateAuthority, tlsServerName: tlsServerName,
            credential: .token(bootstrapToken))
    }

    /// Names the registration (server, CA, server name, token request; not the bootstrap
    /// credential) in the site's token record: a replica whose view of the Secret is older than
    /// the record's registration leaves that token alone.
    public var fingerprint: String {
        var text = [server, Data(certificateAuthority).base64EncodedString(), tlsServerName ?? ""]
        text += [tokenRequest.namespace, tokenRequest.serviceAccount, String(tokenRequest.expirationSeconds)]
        text += tokenRequest.audiences.sorted()
        return String(SHA256.hash(data: Data(text.joined(separator: "\n").utf8)).hexString.prefix(12))
    }

    enum CodingKeys: String, CodingKey {
        case bootstrapToken, tokenRequest, server, certificateAuthorityData, tlsServerName
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        bootstrapToken = BearerToken(try container.decode(String.self, forKey: .bootstrapToken))
        tokenRequest = try container.decode(TokenRequestSpec.self, forKey: .tokenRequest)
        server = try container.decode(String.self, forKey: .server)
        guard let ca = Data(base64Encoded: try container.decode(String.self, forKey: .certificateAuthorityData)) else {
            throw DecodingError.dataCorruptedError(
                forKey: .certificateAuthorityData, in: container, debugDescription: "not base64")
        }
        certificateAuthority = Array(ca)
        tlsServerName = try container.decodeIfPresent(String.self, forKey: .tlsServerName)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(bootstrapToken.value, forKey: .bootstrapToken)
        try container.encode(tokenRequest, forKey: .tokenRequest)
        try container.encode(server, forKey: .server)
        try container.encode(Data(certificateAuthority).base64EncodedString(), forKey: .certificateAuthorityData)
        try container.encodeIfPresent(tlsServerName, forKey: .tlsServerName)
    }
}
