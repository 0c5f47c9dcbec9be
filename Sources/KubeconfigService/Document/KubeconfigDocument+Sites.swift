import FoundationEssentials
import KubeconfigBase
import KubernetesAPI
import YAML

extension KubeconfigDocument {
    // MARK: - Registering and removing remote sites

    /// Puts a registered site in the document: its cluster and context named after it, its user
    /// as it says. A site already there is replaced: the cluster, user and context bodies become
    /// exactly what the registration states. Every other entry stays as it was.
    ///
    /// - Returns: whether the site is new (no context had its name).
    /// - Throws: `.siteConflict` when the user or cluster entry it would write is also used by
    ///   another context: replacing it would silently change that site too.
    @discardableResult
    public mutating func register(_ site: SiteRegistration, fallback location: String) throws(ServiceError) -> Bool {
        let others = contexts.filter { $0.name != site.name }
        if let other = others.first(where: { $0.user == site.user }) {
            throw ServiceError(
                code: .siteConflict,
                message: "user \(site.user) is also used by context \(other.name); name another user for site \(site.name)")
        }
        if let other = others.first(where: { $0.cluster == site.name }) {
            throw ServiceError(
                code: .siteConflict,
                message: "cluster \(site.name) is also used by context \(other.name); remove or rename that context first")
        }
        let previous = contexts.first { $0.name == site.name }

        var cluster: [(String, DocumentNode)] = [
            ("server", .string(site.server)),
            ("certificate-authority-data", .string(Data(site.certificateAuthority).base64EncodedString())),
        ]
        if let tlsServerName = site.tlsServerName { cluster.append(("tls-server-name", .string(tlsServerName))) }
        let user: [(String, DocumentNode)]
        switch site.credential {
        case .token(let token):
            user = [("token", .string(token.value))]
        case .clientCertificate(let identity):
            user = [
                ("client-certificate-data", .string(Data(identity.certificate).base64EncodedString())),
                ("client-key-data", .string(Data(identity.key).base64EncodedString())),
            ]
        case .issued:
            preconditionFailure("a managed site is registered with the token issued for it")
        }
        var context: [(String, DocumentNode)] = [("cluster", .string(site.name)), ("user", .string(site.user))]
        if let namespace = site.namespace { context.append(("namespace", .string(namespace))) }
        replace(section: "clusters", name: site.name, body: "cluster", with: cluster)
        replace(section: "users", name: site.user, body: "user", with: user)
        replace(section: "contexts", name: site.name, body: "context", with: context)

        // A hand-made entry under another name that the site used before, and nothing uses now.
        if let previous {
            removeUnused(cluster: previous.cluster, user: previous.user)
        }
        repairCurrentContext(fallback: location, otherwise: site.name)
        return previous == nil
    }

    /// Sets the user entry's credential to `token` alone (a managed site's renewed token).
    mutating func setToken(_ token: BearerToken, ofUser user: String) {
        replace(section: "users", name: user, body: "user", with: [("token", .string(token.value))])
    }

    /// Removes the context `name`, and its cluster and user unless another context uses them.
    /// A `current-context` naming it becomes `location`.
    ///
    /// - Returns: false when no context has that name (nothing changed).
    public mutating func removeSite(named name: String, fallback location: String) -> Bool {
        guard let removed = contexts.first(where: { $0.name == name }) else { return false }
        remove(section: "contexts", name: name)
        removeUnused(cluster: removed.cluster, user: removed.user)
        if root["current-context"]?.stringValue == name {
            root.set("current-context", .string(location))
        }
        return true
    }

    /// A context's name and the cluster and user it names.
    struct ContextReference {
        var name: String
        var cluster: String?
        var user: String?
        var namespace: String?
    }

    var contexts: [ContextReference] {
        guard case .sequence(let entries)? = root["contexts"] else { return [] }
        return entries.compactMap { entry in
            guard let name = entry["name"]?.stringValue else { return nil }
            let body = entry["context"]
            return ContextReference(
                name: name, cluster: body?["cluster"]?.stringValue, user: body?["user"]?.stringValue,
                namespace: body?["namespace"]?.stringValue)
        }
    }

    private mutating func removeUnused(cluster: String?, user: String?) {
        let remaining = contexts
        if let cluster, !remaining.contains(where: { $0.cluster == cluster }) { remove(section: "clusters", name: cluster) }
        if let user, !remaining.contains(where: { $0.user == user }) { remove(section: "users", name: user) }
    }

    /// `current-context` must name a context: the location's when there is one.
    private mutating func repairCurrentContext(fallback location: String, otherwise name: String) {
        let names = Set(contexts.map(\.name))
        if let current = root["current-context"]?.stringValue, names.contains(current) { return }
        root.set("current-context", .string(names.contains(location) ? location : name))
    }

    /// Sets the body of the entry `name` (adding the entry when missing; dropping later
    /// duplicates), keeping the entry's other keys.
    mutating func replace(section: String, name: String, body: String, with fields: [(String, DocumentNode)]) {
        var entries: [DocumentNode] = []
        if case .sequence(let existing)? = root[section] { entries = existing }
        let content = DocumentNode.mapping(fields.map { DocumentNode.Pair(key: .string($0.0), value: $0.1) })
        let matches = entries.indices.filter { entries[$0]["name"]?.stringValue == name }
        if let first = matches.first {
            entries[first].set(body, content)
            for index in matches.dropFirst().reversed() { entries.remove(at: index) }
        } else {
            entries.append(
                .mapping([
                    DocumentNode.Pair(key: .string("name"), value: .string(name)), .init(key: .string(body), value: content),
                ]))
        }
        root.set(section, .sequence(entries))
    }

    private mutating func remove(section: String, name: String) {
        guard case .sequence(var entries)? = root[section] else { return }
        entries.removeAll { $0["name"]?.stringValue == name }
        root.set(section, .sequence(entries))
    }

    // MARK: - Reading sites

    /// Every context as `GET /sites` describes it, in document order. Never a credential.
    package func siteSummaries(location: String) -> [SiteSummary] {
        contexts.map { summary(of: $0, location: location) }
    }

    package func siteSummary(named name: String, location: String) -> SiteSummary? {
        contexts.first { $0.name == name }.map { summary(of: $0, location: location) }
    }

    private func summary(of context: ContextReference, location: String) -> SiteSummary {
        let cluster = context.cluster.flatMap { entry(in: "clusters", named: $0) }?["cluster"]
        let user = context.user.flatMap { entry(in: "users", named: $0) }?["user"]
        var summary = SiteSummary(
            name: context.name, cluster: context.cluster, user: context.user, namespace: context.namespace,
            server: cluster?["server"]?.stringValue, tlsServerName: cluster?["tls-server-name"]?.stringValue,
            credential: Self.credentialKind(user), ours: context.name == location)
        if let caData = cluster?["certificate-authority-data"]?.stringValue, let pem = Data(base64Encoded: caData) {
            summary.certificateAuthorityExpiresAt = (try? CertificateBundle(pem: Array(pem)))?.earliestExpiry
        }
        if let token = user?["token"]?.stringValue {
            summary.tokenExpiresAt = BearerToken(token).claims?.expiresAt
        }
        if let certificateData = user?["client-certificate-data"]?.stringValue,
            let pem = Data(base64Encoded: certificateData)
        {
            summary.clientCertificateExpiresAt = (try? CertificateBundle(pem: Array(pem)))?.earliestExpiry
        }
        return summary
    }

    /// What kind of credential a user entry holds, as `GET /sites` names it.
    static func credentialKind(_ user: DocumentNode?) -> String {
        guard let user else { return "none" }
        let kinds: [(String, String)] = [
            ("exec", "exec"), ("auth-provider", "auth-provider"), ("client-certificate-data", "client-certificate"),
            ("client-certificate", "client-certificate"), ("token", "token"), ("tokenFile", "token-file"),
            ("username", "basic"),
        ]
        return kinds.first { user[$0.0] != nil && !(user[$0.0]!.isNull) }?.1 ?? "none"
    }

    /// The context `name` and the cluster and user entries it names, as they stand: a probe's
    /// result describes the site only while these are unchanged.
    func entries(ofSite name: String) -> [DocumentNode?] {
        let context = contexts.first { $0.name == name }
        return [
            entry(in: "contexts", named: name), context?.cluster.flatMap { entry(in: "clusters", named: $0) },
            context?.user.flatMap { entry(in: "users", named: $0) },
        ]
    }

    /// How to probe the site `name`: its server, CA and credential. Nil when the context is
    /// missing; a reason instead when the entries cannot be probed as they stand.
    func endpoint(ofSite name: String) -> Result<ClusterEndpoint, ServiceError>? {
        guard let context = contexts.first(where: { $0.name == name }) else { return nil }
        let cluster = context.cluster.flatMap { entry(in: "clusters", named: $0) }?["cluster"]
        let user = context.user.flatMap { entry(in: "users", named: $0) }?["user"]
        guard let server = cluster?["server"]?.stringValue else {
            return .failure(ServiceError(code: .siteNotProbed, message: "context \(name) names no cluster with a server"))
        }
        guard let caData = cluster?["certificate-authority-data"]?.stringValue, let pem = Data(base64Encoded: caData)
        else {
            return .failure(
                ServiceError(
                    code: .siteNotProbed,
                    message: "cluster of \(name) has no certificate-authority-data: it is never probed with other roots"))
        }
        let credential: ClusterEndpoint.Credential
        let kind = Self.credentialKind(user)
        if kind == "token", let token = user?["token"]?.stringValue {
            // A hand-edited token (a YAML block scalar ends in a newline) cannot be sent in a header.
            guard (try? SiteRegistration.checkToken(token, field: "token")) != nil else {
                return .failure(
                    ServiceError(
                        code: .siteNotProbed, message: "the token of \(name) has whitespace or control characters"))
            }
            credential = .token(BearerToken(token))
        } else if kind == "client-certificate", let certificate = user?["client-certificate-data"]?.stringValue,
            let key = user?["client-key-data"]?.stringValue, let certificatePEM = Data(base64Encoded: certificate),
            let keyPEM = Data(base64Encoded: key),
            let identity = try? ClientIdentity(certificate: Array(certificatePEM), key: Array(keyPEM))
        {
            credential = .clientCertificate(identity)
        } else {
            credential = .unsupported(kind)
        }
        return .success(
            ClusterEndpoint(
                server: server, certificateAuthority: Array(pem), tlsServerName: cluster?["tls-server-name"]?.stringValue,
                credential: credential))
    }
}
