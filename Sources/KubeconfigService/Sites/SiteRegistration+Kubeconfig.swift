import HTTPMessages
import KubeconfigBase
import YAML

extension SiteRegistration {
    /// Imports a kubeconfig holding one context (`kubectl config view --minify --raw`): its
    /// cluster, user and context, all named `name`. With `tokenRequest`, the user's token is the
    /// site's bootstrap credential, and the site's token is issued here.
    public init(
        name: String, kubeconfig text: String,
        tokenRequest: (serviceAccount: String, namespace: String?, expirationSeconds: Int?, audiences: [String])? = nil
    ) throws(ServiceError) {
        try Self.checkName(name)
        do throws(ServiceError) {
            self = try Self.imported(name: name, kubeconfig: text, tokenRequest: tokenRequest)
        } catch {
            throw Self.hintingLineBreaks(error, in: text)
        }
    }

    private static func imported(
        name: String, kubeconfig text: String,
        tokenRequest: (serviceAccount: String, namespace: String?, expirationSeconds: Int?, audiences: [String])?
    ) throws(ServiceError) -> SiteRegistration {
        let document: KubeconfigDocument
        do {
            document = try KubeconfigDocument(parsing: text, origin: "the request body", consequence: "")
        } catch {
            throw invalid("body", error.message)
        }
        try checkNotJSONRegistration(document.root)
        try checkNoPlaceholders(document)
        let (context, cluster, user) = try onlyContext(of: document)
        let endpoint = try importedCluster(cluster)
        let namespace = try importedString(context, "namespace", field: "context.namespace")
        if let namespace { try checkNamespace(namespace, field: "context.namespace") }
        var credential = try importedCredential(user)
        if let tokenRequest {
            credential = try issued(by: credential, tokenRequest, contextNamespace: namespace)
        }
        let site = SiteRegistration(
            name: name, server: endpoint.server, certificateAuthority: endpoint.certificateAuthority,
            tlsServerName: endpoint.tlsServerName, namespace: namespace ?? deployerNamespace(credential), user: name,
            credential: credential)
        try site.checkManagedName()
        return site
    }

    /// The one context of `document`, and the cluster and user it names.
    private static func onlyContext(
        of document: KubeconfigDocument
    ) throws(ServiceError) -> (context: DocumentNode, cluster: DocumentNode, user: DocumentNode) {
        let root = document.root
        try checkKeys(
            root,
            allowed: ["apiVersion", "kind", "clusters", "users", "contexts", "current-context", "preferences", "extensions"],
            field: "")
        // client-go refuses a kubeconfig whose list holds two entries of one name: which one a
        // context means would be a guess.
        for section in ["clusters", "users", "contexts"] {
            guard case .sequence(let entries)? = root[section] else { continue }
            var seen: Set<String> = []
            for entry in entries {
                guard let entryName = entry["name"]?.stringValue else { continue }
                guard seen.insert(entryName).inserted else {
                    throw invalid(section, "holds two entries named \"\(entryName.printable)\"")
                }
            }
        }
        guard case .sequence(let contexts)? = root["contexts"], contexts.count == 1, let context = contexts.first else {
            throw invalid("contexts", "must hold exactly one context (export one with: kubectl config view --minify --raw)")
        }
        let contextBody = context["context"] ?? .mapping([])
        try checkKeys(contextBody, allowed: ["cluster", "user", "namespace", "extensions"], field: "context.")
        guard let clusterName = contextBody["cluster"]?.stringValue,
            let cluster = document.entry(in: "clusters", named: clusterName)?["cluster"]
        else {
            throw invalid("context.cluster", "must name a cluster of the kubeconfig")
        }
        guard let userName = contextBody["user"]?.stringValue,
            let user = document.entry(in: "users", named: userName)?["user"]
        else {
            throw invalid("context.user", "must name a user of the kubeconfig")
        }
        return (contextBody, cluster, user)
    }

    /// The server, CA and TLS server name of an imported cluster.
    private static func importedCluster(
        _ cluster: DocumentNode
    ) throws(ServiceError) -> (server: String, certificateAuthority: [UInt8], tlsServerName: String?) {
        if cluster["certificate-authority"] != nil {
            throw invalid(
                "cluster.certificate-authority",
                "a file path cannot be imported; embed the CA (kubectl config view --minify --raw)")
        }
        if let insecure = cluster["insecure-skip-tls-verify"], !insecure.isNull, insecure.boolValue != false {
            throw invalid(
                "cluster.insecure-skip-tls-verify", "refused: a site is reached only with its certificate-authority-data")
        }
        try checkKeys(
            cluster,
            allowed: ["server", "certificate-authority-data", "tls-server-name", "extensions", "insecure-skip-tls-verify"],
            field: "cluster.")
        guard let server = try importedString(cluster, "server", field: "cluster.server") else {
            throw invalid("cluster.server", "is required")
        }
        try checkServer(server, field: "cluster.server")
        guard
            let caData = try importedString(
                cluster, "certificate-authority-data", field: "cluster.certificate-authority-data")
        else {
            throw invalid("cluster.certificate-authority-data", "is required: a site is verified with its own CA")
        }
        let certificateAuthority = try decodeCertificates(caData, field: "cluster.certificate-authority-data")
        let tlsServerName = try importedString(cluster, "tls-server-name", field: "cluster.tls-server-name")
        if let tlsServerName { try checkTLSServerName(tlsServerName, field: "cluster.tls-server-name") }
        return (server, certificateAuthority, tlsServerName)
    }

    /// The credential of an imported user: a token, or a client certificate and key, embedded.
    private static func importedCredential(_ user: DocumentNode) throws(ServiceError) -> Credential {
        for fileField in ["tokenFile", "client-certificate", "client-key"] where user[fileField] != nil {
            throw invalid(
                "user.\(fileField)", "a file path cannot be imported; embed it (kubectl config view --minify --raw)")
        }
        for other in ["exec", "auth-provider", "username", "password"] where user[other] != nil {
            throw invalid(
                "user.\(other)", "cannot be registered: a site's credential is a token or a client certificate and key")
        }
        try checkKeys(user, allowed: ["token", "client-certificate-data", "client-key-data", "extensions"], field: "user.")
        return try credential(
            token: (try importedString(user, "token", field: "user.token"), "user.token"),
            certificate: (
                try importedString(user, "client-certificate-data", field: "user.client-certificate-data"),
                "user.client-certificate-data"
            ),
            key: (try importedString(user, "client-key-data", field: "user.client-key-data"), "user.client-key-data"))
    }

    /// A managed site's credential: `credential`, a token, as the bootstrap credential of
    /// `tokenRequest`, in its namespace or else the context's.
    private static func issued(
        by credential: Credential,
        _ tokenRequest: (serviceAccount: String, namespace: String?, expirationSeconds: Int?, audiences: [String]),
        contextNamespace: String?
    ) throws(ServiceError) -> Credential {
        guard case .token(let bootstrap) = credential else {
            throw invalid("user", "a bootstrap credential is a token")
        }
        guard let namespace = tokenRequest.namespace ?? contextNamespace else {
            throw invalid("namespace", "is required (or the context's namespace)")
        }
        var spec = TokenRequestSpec(serviceAccount: tokenRequest.serviceAccount, namespace: namespace)
        spec.expirationSeconds = tokenRequest.expirationSeconds ?? spec.expirationSeconds
        spec.audiences = tokenRequest.audiences
        try spec.validate(prefix: "")
        return .issued(spec, bootstrap: bootstrap)
    }

    /// The string at `key` of `node`, nil when absent or null.
    private static func importedString(_ node: DocumentNode, _ key: String, field: String) throws(ServiceError) -> String? {
        guard let value = node[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw invalid(field, "must be a string") }
        return text
    }

    /// Refuses keys of a mapping this import does not know: silently dropping them would lose
    /// what the operator meant (a proxy, say). `extensions` and `preferences` are informational
    /// (client-go ignores them for connecting) and are not imported.
    private static func checkKeys(_ node: DocumentNode, allowed: Set<String>, field: String) throws(ServiceError) {
        guard case .mapping(let pairs) = node else {
            throw invalid(field.isEmpty ? "body" : String(field.dropLast()), "must be a mapping")
        }
        for pair in pairs {
            let key = pair.key.stringValue ?? "?"
            guard allowed.contains(key) else {
                throw invalid((field + key).printable, "is not supported in a registered site")
            }
        }
    }
}
