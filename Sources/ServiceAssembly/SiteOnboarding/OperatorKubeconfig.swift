import FoundationEssentials
import KubeconfigBase
import KubeconfigService
import KubernetesAPI
import YAML

/// The operator's own kubeconfig, read as kubectl reads it, to reach a site's cluster as the
/// operator does: `--kubeconfig`, else each file of `$KUBECONFIG` (the first to name an entry
/// wins, as client-go merges them), else `~/.kube/config`. File paths inside are relative to the
/// file that names them.
public struct OperatorKubeconfig: Sendable {
    /// One context, resolved to what reaching its cluster takes.
    public struct Context: Sendable {
        public var name: String
        public var server: String
        /// PEM: the context's `certificate-authority-data` or the file `certificate-authority` names.
        public var certificateAuthority: [UInt8]
        public var tlsServerName: String?
        /// The context's namespace, if it names one.
        public var namespace: String?
        public var credential: Credential
    }

    public enum Credential: Sendable {
        case token(BearerToken)
        case clientCertificate(ClientIdentity)
        /// A credential plugin, run when the cluster is reached.
        case exec(ExecCredentialPlugin, cluster: ExecCredentialPlugin.ClusterInfo, kubeconfigDirectory: String)
    }

    struct Entry {
        var node: YAMLNode
        /// The directory of the file that named it, for its relative paths.
        var directory: String
        /// That file's text and path (an exec plugin is read from it).
        var file: (text: String, path: String)
    }

    private var clusters: [String: Entry] = [:]
    private var users: [String: Entry] = [:]
    private var contexts: [String: Entry] = [:]
    /// The files read, for messages.
    public private(set) var files: [String] = []

    /// Reads `path`, or the files `$KUBECONFIG` lists, or `~/.kube/config`.
    public init(path: String?, environment: [String: String]) throws(ServiceClientError) {
        let paths: [String]
        if let path {
            paths = [path]
        } else if let list = environment["KUBECONFIG"], !list.isEmpty {
            paths = list.split(separator: ":").map(String.init)
        } else {
            paths = ["\(environment["HOME"] ?? "")/.kube/config"]
        }
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                // kubectl skips a missing file of `$KUBECONFIG`, but not one named by a flag.
                if paths.count > 1 { continue }
                throw ServiceClientError(description: "cannot read the kubeconfig \(path)")
            }
            try read(String(decoding: data, as: UTF8.self), path: path)
        }
    }

    /// Reads one file's entries; the first file to name an entry wins.
    mutating func read(_ text: String, path: String) throws(ServiceClientError) {
        let root: YAMLNode?
        do {
            root = try YAMLNode.read(text, maxNodes: 200_000)
        } catch {
            throw ServiceClientError(description: "the kubeconfig \(path) is not valid YAML (\(error.message.printable))")
        }
        files.append(path)
        guard let root else { return }
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        for (section, keyPath) in [("clusters", \Self.clusters), ("users", \Self.users), ("contexts", \Self.contexts)] {
            guard case .sequence(let items)? = root[section] else { continue }
            let field = String(section.dropLast())
            for item in items {
                guard let name = item["name"]?.stringValue, let body = item[field] else { continue }
                if self[keyPath: keyPath][name] == nil {
                    self[keyPath: keyPath][name] = Entry(node: body, directory: directory, file: (text, path))
                }
            }
        }
    }

    /// The context `name`, with its cluster and user.
    ///
    /// - Throws: `ServiceClientError` naming what is missing or refused, and how to fix it.
    public func context(_ name: String) throws(ServiceClientError) -> Context {
        guard let context = contexts[name] else {
            let known = contexts.keys.sorted().map(\.printable).joined(separator: ", ")
            throw ServiceClientError(
                description: "no context \(name.printable) in \(files.joined(separator: ", "))"
                    + (known.isEmpty ? "" : " (its contexts: \(known))"))
        }
        guard let clusterName = context.node["cluster"]?.stringValue, let cluster = clusters[clusterName] else {
            throw ServiceClientError(description: "context \(name.printable) names no cluster that the kubeconfig holds")
        }
        guard let userName = context.node["user"]?.stringValue, let user = users[userName] else {
            throw ServiceClientError(description: "context \(name.printable) names no user that the kubeconfig holds")
        }
        let namespace = context.node["namespace"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        let (server, ca, tlsServerName) = try Self.cluster(cluster, name: clusterName)
        let credential = try Self.credential(
            user, name: userName, cluster: cluster, server: server, ca: ca, tlsServerName: tlsServerName)
        return Context(
            name: name, server: server, certificateAuthority: ca, tlsServerName: tlsServerName, namespace: namespace,
            credential: credential)
    }

    // MARK: - Entries

    private static func cluster(
        _ entry: Entry, name: String
    ) throws(ServiceClientError) -> (server: String, ca: [UInt8], tlsServerName: String?) {
        let cluster = entry.node
        let what = "cluster \(name.printable)"
        if cluster["insecure-skip-tls-verify"]?.boolValue == true {
            throw ServiceClientError(
                description: "\(what) skips TLS verification (insecure-skip-tls-verify): a site is registered only "
                    + "with the CA that verifies its server; set certificate-authority-data in the kubeconfig")
        }
        if let proxy = cluster["proxy-url"]?.stringValue, !proxy.isEmpty {
            throw ServiceClientError(
                description: "\(what) is reached through a proxy (proxy-url), which site add does not use; "
                    + "use a context that reaches the API server directly")
        }
        guard let server = cluster["server"]?.stringValue, !server.isEmpty else {
            throw ServiceClientError(description: "\(what) has no server")
        }
        guard server.lowercased().hasPrefix("https://") else {
            throw ServiceClientError(description: "\(what)'s server \(server.printable) is not an https URL")
        }
        let ca: [UInt8]
        if let data = cluster["certificate-authority-data"]?.stringValue, !data.isEmpty {
            guard let decoded = Data(base64Encoded: data.trimmingWhitespaceAndNewlines()) else {
                throw ServiceClientError(description: "\(what)'s certificate-authority-data is not base64")
            }
            ca = Array(decoded)
        } else if let file = cluster["certificate-authority"]?.stringValue, !file.isEmpty {
            ca = try read(file, relativeTo: entry.directory, what: "\(what)'s certificate-authority")
        } else {
            throw ServiceClientError(
                description: "\(what) names no certificate authority (certificate-authority-data or "
                    + "certificate-authority): the service verifies a site's server with its own CA, never the system's")
        }
        let tlsServerName = cluster["tls-server-name"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        return (server, ca, tlsServerName)
    }

    private static func credential(
        _ entry: Entry, name: String, cluster: Entry, server: String, ca: [UInt8], tlsServerName: String?
    ) throws(ServiceClientError) -> Credential {
        let user = entry.node
        let what = "user \(name.printable)"
        for field in ["as", "as-uid", "as-groups", "as-user-extra"] where user[field].map({ !$0.isNull }) == true {
            throw ServiceClientError(
                description: "\(what) impersonates (\(field)), which site add does not do; use a context that "
                    + "authenticates as an administrator of the cluster directly")
        }
        if let token = user["token"]?.stringValue, !token.isEmpty {
            return .token(BearerToken(token))
        }
        if let file = user["tokenFile"]?.stringValue, !file.isEmpty {
            let text = String(decoding: try read(file, relativeTo: entry.directory, what: "\(what)'s tokenFile"), as: UTF8.self)
            let token = text.trimmingWhitespaceAndNewlines()
            guard !token.isEmpty else { throw ServiceClientError(description: "\(what)'s tokenFile \(file) is empty") }
            return .token(BearerToken(token))
        }
        let certificate = try material(user, data: "client-certificate-data", file: "client-certificate", entry, what)
        let key = try material(user, data: "client-key-data", file: "client-key", entry, what)
        switch (certificate, key) {
        case (let certificate?, let key?):
            do {
                return .clientCertificate(try ClientIdentity(certificate: certificate, key: key))
            } catch {
                throw ServiceClientError(description: "\(what)'s client certificate \(error.message)")
            }
        case (_?, nil), (nil, _?):
            throw ServiceClientError(
                description: "\(what) has half of a client certificate: both the certificate and its key are needed")
        case (nil, nil):
            break
        }
        if let exec = user["exec"], !exec.isNull {
            let document: KubeconfigDocument
            do {
                document = try KubeconfigDocument(parsing: entry.file.text, origin: "the kubeconfig \(entry.file.path)")
            } catch {
                throw ServiceClientError(description: error.message)
            }
            guard let plugin = try ExecCredentialPlugin(user: name, in: document) else {
                throw ServiceClientError(description: "\(what)'s exec block is empty")
            }
            let info = ExecCredentialPlugin.ClusterInfo(
                server: server, certificateAuthority: ca, tlsServerName: tlsServerName,
                disableCompression: cluster.node["disable-compression"]?.boolValue == true,
                config: execExtension(of: cluster.node).map(JSONText.init)?.text)
            return .exec(plugin, cluster: info, kubeconfigDirectory: entry.directory)
        }
        if user["auth-provider"].map({ !$0.isNull }) == true {
            throw ServiceClientError(
                description: "\(what) uses an auth-provider, which kubectl itself dropped in 1.26: use the exec "
                    + "credential plugin your provider ships (gke-gcloud-auth-plugin, kubelogin, ...)")
        }
        if user["username"].map({ !$0.isNull }) == true || user["password"].map({ !$0.isNull }) == true {
            throw ServiceClientError(description: "\(what) uses a username and password, which site add does not send")
        }
        throw ServiceClientError(description: "\(what) holds no credential (a token, a client certificate or an exec plugin)")
    }

    /// The cluster's `client.authentication.k8s.io/exec` extension: what a plugin given the
    /// cluster's information reads as `config`.
    private static func execExtension(of cluster: YAMLNode) -> YAMLNode? {
        guard case .sequence(let extensions)? = cluster["extensions"] else { return nil }
        return extensions.first { $0["name"]?.stringValue == "client.authentication.k8s.io/exec" }?["extension"]
    }

    /// A YAML node as JSON text, its scalars resolved as YAML 1.1 does (what client-go's
    /// `runtime.RawExtension` of the extension holds).
    struct JSONText: Encodable {
        let node: YAMLNode

        init(_ node: YAMLNode) { self.node = node }

        var text: String? {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) }
        }

        func encode(to encoder: any Encoder) throws {
            switch node {
            case .sequence(let items):
                var container = encoder.unkeyedContainer()
                for item in items { try container.encode(JSONText(item)) }
            case .mapping(let pairs):
                var container = encoder.container(keyedBy: Key.self)
                for pair in pairs {
                    try container.encode(JSONText(pair.value), forKey: Key(pair.key.stringValue ?? ""))
                }
            case .scalar(let scalar):
                var container = encoder.singleValueContainer()
                switch scalar.tag {
                case YAMLTag.null: try container.encodeNil()
                case YAMLTag.bool where scalar.boolValue != nil: try container.encode(scalar.boolValue!)
                case YAMLTag.int where scalar.intValue != nil: try container.encode(scalar.intValue!)
                case YAMLTag.float where scalar.doubleValue?.isFinite == true: try container.encode(scalar.doubleValue!)
                default: try container.encode(scalar.text)
                }
            }
        }

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(_ text: String) { stringValue = text }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
    }

    private static func material(
        _ user: YAMLNode, data: String, file: String, _ entry: Entry, _ what: String
    ) throws(ServiceClientError) -> [UInt8]? {
        if let text = user[data]?.stringValue, !text.isEmpty {
            guard let decoded = Data(base64Encoded: text.trimmingWhitespaceAndNewlines()) else {
                throw ServiceClientError(description: "\(what)'s \(data) is not base64")
            }
            return Array(decoded)
        }
        if let path = user[file]?.stringValue, !path.isEmpty {
            return try read(path, relativeTo: entry.directory, what: "\(what)'s \(file)")
        }
        return nil
    }

    static func read(_ path: String, relativeTo directory: String, what: String) throws(ServiceClientError) -> [UInt8] {
        let resolved = path.hasPrefix("/") ? path : "\(directory)/\(path)"
        guard let data = FileManager.default.contents(atPath: resolved) else {
            throw ServiceClientError(description: "cannot read \(what) \(resolved)")
        }
        return Array(data)
    }
}
