import FoundationEssentials

extension BearerToken {
    /// The claims a Kubernetes service-account token carries, read without verifying anything.
    public struct Claims: Sendable, Equatable, Decodable {
        /// `system:serviceaccount:<namespace>:<name>` for service-account tokens.
        public var subject: String?
        public var issuedAt: Date?
        public var expiresAt: Date?
        /// `jti`: the token's own id (kube-apiserver writes one since 1.29), which audit logs
        /// name it by.
        public var id: String?
        /// `aud`: the audiences the token is valid for (a string or an array in a JWT); nil
        /// when the token names none.
        public var audiences: [String]?
        /// The `kubernetes.io` claim's `namespace` and `serviceaccount.name`: the account a
        /// service-account token authenticates as.
        public var serviceAccount: (namespace: String, name: String)? {
            guard let namespace = kubernetes?.namespace, let name = kubernetes?.serviceaccount?.name else { return nil }
            return (namespace, name)
        }
        var kubernetes: KubernetesClaim?

        struct KubernetesClaim: Sendable, Equatable, Decodable {
            struct Reference: Sendable, Equatable, Decodable { var name: String? }
            var namespace: String?
            var serviceaccount: Reference?
        }

        enum CodingKeys: String, CodingKey {
            case subject = "sub"
            case issuedAt = "iat"
            case expiresAt = "exp"
            case id = "jti"
            case audiences = "aud"
            case kubernetes = "kubernetes.io"
        }

        public init(subject: String?, issuedAt: Date?, expiresAt: Date?, id: String? = nil) {
            self.subject = subject
            self.issuedAt = issuedAt
            self.expiresAt = expiresAt
            self.id = id
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            subject = try? container.decodeIfPresent(String.self, forKey: .subject)
            issuedAt = (try? container.decodeIfPresent(Double.self, forKey: .issuedAt)).flatMap { $0 }
                .map(Date.init(timeIntervalSince1970:))
            expiresAt = (try? container.decodeIfPresent(Double.self, forKey: .expiresAt)).flatMap { $0 }
                .map(Date.init(timeIntervalSince1970:))
            id = (try? container.decodeIfPresent(String.self, forKey: .id)).flatMap { $0 }
            if let audience = (try? container.decodeIfPresent(String.self, forKey: .audiences)).flatMap({ $0 }) {
                audiences = [audience]
            } else {
                audiences = (try? container.decodeIfPresent([String].self, forKey: .audiences)).flatMap { $0 }
            }
            kubernetes = (try? container.decodeIfPresent(KubernetesClaim.self, forKey: .kubernetes)).flatMap { $0 }
        }
    }

    /// The payload of a JWT-shaped token (`header.payload.signature`), or nil for an opaque one.
    ///
    /// For display and cross-checks only: the signature is not verified, so nothing here may
    /// authorise anything.
    public var claims: Claims? {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var base64 = String(parts[1].replacing("-", with: "+").replacing("_", with: "/"))
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let payload = Data(base64Encoded: base64) else { return nil }
        return try? JSONDecoder().decode(Claims.self, from: payload)
    }
}
