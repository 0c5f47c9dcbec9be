import FoundationEssentials
import KubeconfigBase

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

    enum CodingKeys: String, CodingKey { case serviceAccount, namespace, expirationSeconds, audiences }

    /// Reads an entry as the registration's JSON allows it: lifetime and audiences may be left out.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        serviceAccount = try container.decode(String.self, forKey: .serviceAccount)
        namespace = try container.decode(String.self, forKey: .namespace)
        expirationSeconds = try container.decodeIfPresent(Int.self, forKey: .expirationSeconds) ?? 3600
        audiences = try container.decodeIfPresent([String].self, forKey: .audiences) ?? []
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
