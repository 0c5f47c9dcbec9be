import FoundationEssentials
import KubeconfigBase
import KubernetesAPI

/// One registration of a managed site, as the credentials Secret keeps it: where and how to
/// renew the site's token. Never in the shared document, never in an answer or a log.
///
/// It holds the site's server and CA as registered: a token request goes there, whatever the
/// document's cluster entry says later, so someone who may edit the document cannot redirect
/// the bootstrap credential to a server of their choosing.
///
/// Each managed `PUT` makes a new `registration` id and stores the credential under a key of its
/// own (`<site>_<registration>`); the site's token record in the document names the id. So a
/// cleanup removes exactly the registration it means to, never a newer one of the same name.
public struct ManagedCredential: Sendable, Hashable, Codable {
    /// The narrow credential allowed only to create tokens for `tokenRequest.serviceAccount`.
    public var bootstrapToken: BearerToken
    public var tokenRequest: TokenRequestSpec
    public var server: String
    /// The CA bundle (PEM) the site's server is verified with.
    public var certificateAuthority: [UInt8]
    public var tlsServerName: String?
    /// Names this registration in the site's token record (16 hex digits; for an entry written
    /// before registrations had ids, the `legacyFingerprint` its records name).
    public var registration: String
    /// When the registration was stored; nil for entries written before. An entry no record
    /// names is removed once it is older than the grace period.
    public var createdAt: Date?
    /// The cluster the site was registered as (its `kube-system` namespace UID), when the
    /// registration said; nil for entries written before. The document's `ClusterIdentities` is
    /// what the duplicate check reads: this records the registration as it was made.
    public var clusterID: String?

    public init(
        bootstrapToken: BearerToken, tokenRequest: TokenRequestSpec, server: String, certificateAuthority: [UInt8],
        tlsServerName: String?, clusterID: String? = nil, registration: String = Self.newRegistration(),
        createdAt: Date? = Date()
    ) {
        self.bootstrapToken = bootstrapToken
        self.tokenRequest = tokenRequest
        self.server = server
        self.certificateAuthority = certificateAuthority
        self.tlsServerName = tlsServerName
        self.registration = registration
        self.createdAt = createdAt
        self.clusterID = clusterID
    }

    /// A fresh registration id: 64 random bits, as 16 hex digits.
    public static func newRegistration() -> String {
        let value = UInt64.random(in: .min ... .max)
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Where token requests go, with the bootstrap credential.
    public var endpoint: ClusterEndpoint {
        ClusterEndpoint(
            server: server, certificateAuthority: certificateAuthority, tlsServerName: tlsServerName,
            credential: .token(bootstrapToken))
    }

    /// Whether `other` registers the same thing: everything but the id and the time.
    public func registers(sameAs other: ManagedCredential) -> Bool {
        bootstrapToken == other.bootstrapToken && tokenRequest == other.tokenRequest && server == other.server
            && certificateAuthority == other.certificateAuthority && tlsServerName == other.tlsServerName
            && clusterID == other.clusterID
    }

    /// What records of entries without an id name: a digest of the server, CA, server name and
    /// token request (not the bootstrap credential).
    var legacyFingerprint: String {
        var text = [server, Data(certificateAuthority).base64EncodedString(), tlsServerName ?? ""]
        text += [tokenRequest.namespace, tokenRequest.serviceAccount, String(tokenRequest.expirationSeconds)]
        text += tokenRequest.audiences.sorted()
        return String(SHA256.hash(data: Data(text.joined(separator: "\n").utf8)).hexString.prefix(12))
    }

    // MARK: - Coding

    enum CodingKeys: String, CodingKey {
        case bootstrapToken, tokenRequest, server, certificateAuthorityData, tlsServerName, registration, createdAt
        case clusterID = "clusterId"
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
        createdAt = try container.decodeIfPresent(Date.self, forKey: .createdAt)
        clusterID = try container.decodeIfPresent(String.self, forKey: .clusterID)
        registration = ""
        registration = try container.decodeIfPresent(String.self, forKey: .registration) ?? legacyFingerprint
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(bootstrapToken.value, forKey: .bootstrapToken)
        try container.encode(tokenRequest, forKey: .tokenRequest)
        try container.encode(server, forKey: .server)
        try container.encode(Data(certificateAuthority).base64EncodedString(), forKey: .certificateAuthorityData)
        try container.encodeIfPresent(tlsServerName, forKey: .tlsServerName)
        try container.encode(registration, forKey: .registration)
        try container.encodeIfPresent(createdAt, forKey: .createdAt)
        try container.encodeIfPresent(clusterID, forKey: .clusterID)
    }
}
