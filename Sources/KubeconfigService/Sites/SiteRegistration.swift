import FoundationEssentials
import KubeconfigBase
import KubernetesAPI

#if canImport(Glibc)
    import Glibc
#endif

/// A remote site as `PUT /sites/{name}` registers it: validated, ready to be written.
///
/// Built only through `init(name:json:)` or `init(name:kubeconfig:)`, which refuse anything
/// doubtful with a 400 naming the field, so that nothing unchecked reaches the document.
public struct SiteRegistration: Sendable, Equatable {
    public enum Credential: Sendable, Equatable {
        case token(BearerToken)
        case clientCertificate(ClientIdentity)
        /// A token this service issues at the site with `bootstrap`, and renews.
        case issued(TokenRequestSpec, bootstrap: BearerToken)
    }

    /// The context and cluster name: the location Cloudify's plugin selects.
    public var name: String
    /// `https://host[:port][/prefix]`.
    public var server: String
    /// The CA bundle (PEM) the site's server certificate is verified with.
    public var certificateAuthority: [UInt8]
    public var tlsServerName: String?
    /// The context's default namespace.
    public var namespace: String?
    /// The user entry's name.
    public var user: String
    public var credential: Credential
    /// The cluster the site is, by its `kube-system` namespace UID, when the registration says
    /// (`site add` reads it): a second site of the same cluster is refused.
    public var clusterID: String? = nil
    /// Register the site even when another site is already the same cluster.
    public var allowsDuplicateCluster = false
    /// Kubernetes labels of the site, copied onto its sinks' Secrets and selected by the sinks'
    /// selectors (kept in the document's annotations: `SiteLabels`).
    public var labels: [String: String] = [:]

    /// How to probe the site as registered; nil for a managed site, whose token is yet to be issued.
    public var endpoint: ClusterEndpoint? {
        let credential: ClusterEndpoint.Credential
        switch self.credential {
        case .token(let token): credential = .token(token)
        case .clientCertificate(let identity): credential = .clientCertificate(identity)
        case .issued: return nil
        }
        return ClusterEndpoint(
            server: server, certificateAuthority: certificateAuthority, tlsServerName: tlsServerName, credential: credential)
    }

    // MARK: - Field checks

    static func invalid(_ field: String, _ why: String) -> ServiceError {
        ServiceError(code: .invalidSite, message: "\(field): \(why)")
    }

    /// A site name: a DNS-1123 subdomain, as the plugin's `location_id` and Kubernetes names are.
    static func checkName(_ name: String) throws(ServiceError) {
        guard isDNSSubdomain(name) else {
            throw invalid(
                "name",
                "must be a DNS-1123 subdomain: at most 253 lowercase letters, digits, '-' and '.', starting and ending "
                    + "with a letter or digit")
        }
    }

    static func isDNSSubdomain(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isDNSLabel)
    }

    static func isDNSLabel(_ label: Substring) -> Bool {
        let bytes = Array(label.utf8)
        guard let first = bytes.first, let last = bytes.last, bytes.count <= 63 else { return false }
        func alphanumeric(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        return alphanumeric(first) && alphanumeric(last) && bytes.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    /// `https://`, a host (name, IPv4, or bracketed IPv6), an optional port, an optional path.
    static func checkServer(_ server: String, field: String) throws(ServiceError) {
        let refusal = invalid(field, "must be an https URL with a host, such as https://api.example.org:6443")
        let prefix = "https://"
        guard server.lowercased().hasPrefix(prefix) else { throw refusal }
        let rest = server.dropFirst(prefix.count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        guard !path.contains(where: { $0 == "?" || $0 == "#" || $0.isWhitespace }),
            !authority.contains("@"), !path.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value > 0x7E })
        else { throw refusal }
        var host = Substring(authority)
        var port: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw refusal }
            let literal = host[host.index(after: host.startIndex)..<close]
            guard isIPv6(String(literal)) else { throw refusal }
            let after = host[host.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw refusal }
                port = after.dropFirst()
            }
            host = literal
        } else {
            if let colon = host.firstIndex(of: ":") {
                port = host[host.index(after: colon)...]
                host = host[..<colon]
            }
            guard isHostName(host) else { throw refusal }
        }
        if let port {
            guard port.allSatisfy(\.isASCII), port.allSatisfy(\.isNumber), let number = Int(port), (1...65535).contains(number)
            else {
                throw invalid(field, "has a port that is not a number from 1 to 65535")
            }
        }
    }

    /// A DNS name or IPv4 address: labels of letters, digits and inner '-', joined by '.'.
    static func isHostName(_ host: Substring) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        var name = host
        if name.hasSuffix(".") { name.removeLast() }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            isDNSLabel(Substring(label.lowercased()))
        }
    }

    /// An IPv6 address literal, as `inet_pton` reads it.
    static func isIPv6(_ literal: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET6, literal, &address) == 1
    }

    /// Base64 of a PEM bundle holding at least one certificate; the PEM bytes.
    static func decodeCertificates(_ base64: String, field: String) throws(ServiceError) -> [UInt8] {
        let pem = try decodeBase64(base64, field: field)
        do {
            _ = try CertificateBundle(pem: pem)
        } catch {
            throw invalid(field, error.message)
        }
        return pem
    }

    static func decodeBase64(_ base64: String, field: String) throws(ServiceError) -> [UInt8] {
        guard !base64.isEmpty, let data = Data(base64Encoded: base64) else {
            throw invalid(field, "must be base64 (of PEM), as kubeconfig *-data fields are")
        }
        return Array(data)
    }

    /// A bearer token is sent in a header: printable ASCII, no whitespace.
    static func checkToken(_ token: String, field: String) throws(ServiceError) {
        guard !token.isEmpty else { throw invalid(field, "must not be empty") }
        guard token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw invalid(field, "must be printable ASCII without whitespace or control characters")
        }
    }

    static func checkTLSServerName(_ name: String, field: String) throws(ServiceError) {
        guard isHostName(Substring(name)) else { throw invalid(field, "must be a DNS name") }
    }

    static func checkNamespace(_ namespace: String, field: String) throws(ServiceError) {
        guard isDNSLabel(Substring(namespace)) else {
            throw invalid(field, "must be a DNS-1123 label: at most 63 lowercase letters, digits and '-'")
        }
    }

    /// A user entry's name: printable ASCII, so it shows as written in every message and log.
    static func checkUserName(_ user: String, field: String) throws(ServiceError) {
        guard !user.isEmpty, user.utf8.count <= 253, user.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw invalid(field, "must be 1 to 253 printable ASCII characters, without whitespace")
        }
    }

    static func clientIdentity(
        certificate: String, key: String, certificateField: String, keyField: String
    ) throws(ServiceError) -> ClientIdentity {
        let certificatePEM = try decodeCertificates(certificate, field: certificateField)
        let keyPEM = try decodeBase64(key, field: keyField)
        do {
            return try ClientIdentity(certificate: certificatePEM, key: keyPEM)
        } catch {
            throw invalid(error.code == .certificateUnreadable ? certificateField : keyField, error.message)
        }
    }
}
