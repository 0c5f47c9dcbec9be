import FoundationEssentials
import KubeconfigBase
import YAML

/// A kubeconfig document, edited so that nothing we do not own is lost.
///
/// The document is kept as a YAML tree rather than decoded into structs: every field this
/// service does not know (other sites, `exec` plugins, `extensions`, `proxy-url`, ...) survives
/// a merge byte-for-byte in meaning.
public struct KubeconfigDocument: Sendable, Equatable {
    var root: DocumentNode

    /// Most YAML nodes a stored document may expand to.
    static let maxNodes = 500_000

    // MARK: - Parsing

    /// A new, empty kubeconfig (`apiVersion: v1`, `kind: Config`, no entries).
    public init() {
        root = .mapping([
            "apiVersion": .string("v1"),
            "kind": .string("Config"),
            "preferences": .mapping([]),
            "clusters": .sequence([]),
            "users": .sequence([]),
            "contexts": .sequence([]),
        ])
    }

    /// Parses a stored document; empty text (or only comments) gives a new document.
    ///
    /// - Throws: `ServiceError` with code `.documentNotKubeconfig` when the text is not YAML, not a
    ///   mapping, or has a shape no kubeconfig has. The caller must then leave it untouched.
    public init(parsing text: String, origin: String) throws(ServiceError) {
        try self.init(parsing: text, origin: origin, consequence: "; refusing to overwrite it")
    }

    /// Parses `text`; error messages name `origin` and end with `consequence`.
    init(parsing text: String, origin: String, consequence: String) throws(ServiceError) {
        if Self.holdsByteOrderMark(text) {
            throw ServiceError(
                code: .documentNotKubeconfig,
                message: "\(origin) holds U+FEFF (a byte order mark) after its start, which the YAML reader would drop "
                    + "from a value\(consequence)")
        }
        let parsed: DocumentNode?
        do {
            parsed = try DocumentNode.read(text, maxNodes: Self.maxNodes)
        } catch {
            let message =
                switch error.kind {
                case .severalDocuments: "\(origin) holds several YAML documents, not one kubeconfig"
                case .tooManyNodes: "\(origin) expands to more than \(Self.maxNodes) YAML nodes (aliases?)"
                default: "\(origin) is not valid YAML (\(Self.bounded(error.message)))"
                }
            throw ServiceError(code: .documentNotKubeconfig, message: message + consequence)
        }
        guard let root = parsed else {
            self.init()
            return
        }
        if root.isNull {
            self.init()
            return
        }
        try Self.validate(root, origin: origin, consequence: consequence)
        self.init(root: root)
    }

    init(root: DocumentNode) {
        self.root = root
    }

    /// Whether `text` has U+FEFF after its first character, as is or escaped (`\uFEFF`,
    /// `\U0000FEFF`). libyaml skips one at the start of any line as a byte order mark, and
    /// readers differ on one that starts a value (Foundation's UTF-8 decoding drops it): a value
    /// holding it would not read back the same everywhere, so it is refused, not guessed.
    static func holdsByteOrderMark(_ text: String) -> Bool {
        // U+FEFF in UTF-8 is EF BB BF; a document may start with one (the stream's own mark).
        let bytes = Array(text.utf8)
        var index = 1
        while index < bytes.count, let found = bytes[index...].firstIndex(of: 0xEF) {
            if found + 2 < bytes.count, bytes[found + 1] == 0xBB, bytes[found + 2] == 0xBF { return true }
            index = found + 1
        }
        guard bytes.contains(UInt8(ascii: "\\")) else { return false }
        let lowered = text.lowercased()
        return lowered.contains("\\ufeff") || lowered.contains("\\u0000feff")
    }

    /// Checks the shape of a parsed document: what we would otherwise overwrite blindly.
    private static func validate(_ root: DocumentNode, origin: String, consequence: String) throws(ServiceError) {
        func refuse(_ why: String) -> ServiceError {
            ServiceError(code: .documentNotKubeconfig, message: "\(origin) is not a kubeconfig: \(why)\(consequence)")
        }
        guard case .mapping = root else { throw refuse("the document is not a mapping") }
        if let kind = root["kind"], !kind.isNull, kind.stringValue != "Config" {
            throw refuse("kind is not Config")
        }
        for section in ["clusters", "users", "contexts"] {
            guard let value = root[section], !value.isNull else { continue }
            guard case .sequence(let entries) = value else { throw refuse("\(section) is not a list") }
            for entry in entries {
                guard case .mapping = entry else { throw refuse("an entry of \(section) is not a mapping") }
            }
        }
        if let current = root["current-context"], !current.isNull, current.stringValue == nil {
            throw refuse("current-context is not a string")
        }
    }

    /// libyaml's message quotes no text, but a duplicated key is attacker-chosen: bound it.
    private static func bounded(_ message: String) -> String {
        message.count > 200 ? String(message.prefix(200)) + "..." : message
    }

    // MARK: - Merging

    /// Fields that state another way to reach or trust the cluster: they would contradict ours.
    static let conflictingClusterFields = ["certificate-authority", "insecure-skip-tls-verify"]
    /// Fields that state another credential: client-go refuses a user with two.
    static let conflictingUserFields = [
        "tokenFile", "username", "password", "client-certificate", "client-certificate-data",
        "client-key", "client-key-data", "auth-provider", "exec",
    ]

    /// Puts one site's cluster, user and context in the document.
    ///
    /// Entries with the same names are updated in place: the fields we own are replaced, fields
    /// that would contradict them are removed, any other field is kept. Every other entry and
    /// top-level field stays as it was. `current-context` is kept when it names an existing
    /// context, otherwise it becomes the site.
    public mutating func merge(_ site: SiteEntries) {
        let caData = Data(site.certificateAuthority).base64EncodedString()
        upsert(
            section: "clusters", name: site.location, body: "cluster",
            set: ["server": .string(site.server), "certificate-authority-data": .string(caData)],
            remove: Self.conflictingClusterFields)
        upsert(
            section: "users", name: site.user, body: "user",
            set: ["token": .string(site.token.value)],
            remove: Self.conflictingUserFields)
        upsert(
            section: "contexts", name: site.location, body: "context",
            set: ["cluster": .string(site.location), "user": .string(site.user)],
            remove: [])
        if let current = root["current-context"]?.stringValue, entry(in: "contexts", named: current) != nil {
            return
        }
        root.set("current-context", .string(site.location))
    }

    private mutating func upsert(
        section: String, name: String, body: String, set fields: KeyValuePairs<String, DocumentNode>, remove: [String]
    ) {
        var entries: [DocumentNode] = []
        if case .sequence(let existing)? = root[section] { entries = existing }
        let matches = entries.indices.filter { entries[$0]["name"]?.stringValue == name }
        var entry = matches.first.map { entries[$0] } ?? .mapping(["name": .string(name)])
        var content = entry[body] ?? .mapping([])
        if case .mapping = content {} else { content = .mapping([]) }
        for field in remove { content.set(field, nil) }
        for (key, value) in fields { content.set(key, value) }
        entry.set(body, content)
        if let first = matches.first {
            entries[first] = entry
            // Later duplicates of our name would make the document ambiguous to clients.
            for index in matches.dropFirst().reversed() { entries.remove(at: index) }
        } else {
            entries.append(entry)
        }
        root.set(section, .sequence(entries))
    }

    func entry(in section: String, named name: String) -> DocumentNode? {
        guard case .sequence(let entries)? = root[section] else { return nil }
        return entries.first { $0["name"]?.stringValue == name }
    }

    // MARK: - Reading

    /// The names of the contexts, in document order.
    public var contextNames: [String] {
        guard case .sequence(let entries)? = root["contexts"] else { return [] }
        return entries.compactMap { $0["name"]?.stringValue }
    }

    /// The `token` of the user entry named `name`; nil when the entry or its token is missing.
    public func token(ofUser name: String) -> String? {
        entry(in: "users", named: name)?["user"]?["token"]?.stringValue
    }

    /// A document holding only one site: its context, the cluster and user that context names,
    /// and `current-context` set to it. Nil when no context has that name.
    public func site(named name: String) -> KubeconfigDocument? {
        guard let context = entry(in: "contexts", named: name) else { return nil }
        let clusterName = context["context"]?["cluster"]?.stringValue
        let userName = context["context"]?["user"]?.stringValue
        var site = KubeconfigDocument()
        if let preferences = root["preferences"] { site.root.set("preferences", preferences) }
        site.root.set("clusters", .sequence(clusterName.flatMap { entry(in: "clusters", named: $0) }.map { [$0] } ?? []))
        site.root.set("users", .sequence(userName.flatMap { entry(in: "users", named: $0) }.map { [$0] } ?? []))
        site.root.set("contexts", .sequence([context]))
        site.root.set("current-context", .string(name))
        return site
    }

    // MARK: - Writing

    /// The document as block-style YAML.
    public func yaml() -> String {
        root.yaml()
    }
}
