import FoundationEssentials
import KubeconfigBase

/// One object `site add` keeps on a site's cluster for the service: a namespace, an account, a
/// Role or a binding, labelled with the site it serves. Plain values: what it is, where its API
/// path is, the body to create it with, and whether an object found there may be taken as ours.
public struct RemoteObject: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case namespace = "Namespace"
        case serviceAccount = "ServiceAccount"
        case role = "Role"
        case roleBinding = "RoleBinding"
        case clusterRoleBinding = "ClusterRoleBinding"

        /// The resource's plural name, as its API path and kubectl spell it.
        public var resource: String {
            switch self {
            case .namespace: "namespaces"
            case .serviceAccount: "serviceaccounts"
            case .role: "roles"
            case .roleBinding: "rolebindings"
            case .clusterRoleBinding: "clusterrolebindings"
            }
        }

        var apiVersion: String {
            switch self {
            case .namespace, .serviceAccount: "v1"
            case .role, .roleBinding, .clusterRoleBinding: "rbac.authorization.k8s.io/v1"
            }
        }

        var groupPrefix: String {
            switch self {
            case .namespace, .serviceAccount: "/api/v1"
            case .role, .roleBinding, .clusterRoleBinding: "/apis/rbac.authorization.k8s.io/v1"
            }
        }

        /// Whether its objects live in a namespace.
        var isNamespaced: Bool { self == .serviceAccount || self == .role || self == .roleBinding }

        /// The path listing every object of the kind, in every namespace.
        public var clusterWidePath: String { "\(groupPrefix)/\(resource)" }
    }

    /// A Role's rule, as `rbac.authorization.k8s.io/v1` spells it.
    public struct Rule: Sendable, Equatable, Codable {
        public var apiGroups: [String]
        public var resources: [String]
        public var verbs: [String]
        public var resourceNames: [String]?
    }

    /// The role a binding grants: `kind` Role or ClusterRole.
    public struct RoleReference: Sendable, Equatable, Codable {
        public var apiGroup = "rbac.authorization.k8s.io"
        public var kind: String
        public var name: String
    }

    /// A binding's subject: always a ServiceAccount here.
    public struct Subject: Sendable, Equatable, Codable {
        public var kind = "ServiceAccount"
        public var name: String
        public var namespace: String
    }

    public var kind: Kind
    /// Its namespace; nil for a cluster-scoped object.
    public var namespace: String?
    public var name: String
    /// Labels naming the service and the site (and, for an object kept, its own).
    public var labels: [String: String]
    /// An object kept keeps its annotations.
    public var annotations: [String: String]?
    /// A Role's rules.
    public var rules: [Rule]?
    /// A binding's role and subjects.
    public var roleRef: RoleReference?
    public var subjects: [Subject]?

    public init(
        kind: Kind, namespace: String? = nil, name: String, labels: [String: String],
        annotations: [String: String]? = nil, rules: [Rule]? = nil, roleRef: RoleReference? = nil,
        subjects: [Subject]? = nil
    ) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.labels = labels
        self.annotations = annotations
        self.rules = rules
        self.roleRef = roleRef
        self.subjects = subjects
    }

    /// Whether `other` is the same object: kind, namespace and name.
    public func names(sameAs other: RemoteObject) -> Bool {
        kind == other.kind && name == other.name && (kind.isNamespaced ? namespace == other.namespace : true)
    }

    /// `serviceaccount ns/name`, as an operator reads it in `kubectl get` terms.
    public var description: String {
        "\(kind.rawValue.lowercased()) \(namespace.map { "\($0)/" } ?? "")\(name)"
    }

    /// The path of the collection it is created in.
    public var collectionPath: String {
        if let namespace, kind.isNamespaced {
            return "\(kind.groupPrefix)/namespaces/\(Self.segment(namespace))/\(kind.resource)"
        }
        return "\(kind.groupPrefix)/\(kind.resource)"
    }

    /// The object's own path.
    public var path: String { "\(collectionPath)/\(Self.segment(name))" }

    /// The JSON to create it with; with `resourceVersion`, to replace the version read.
    public func body(resourceVersion: String? = nil) -> [UInt8] {
        Array(encoded(resourceVersion: resourceVersion, format: [.sortedKeys]))
    }

    /// The same body, indented, for `--dry-run` to print.
    public func manifest() -> String {
        String(
            decoding: encoded(resourceVersion: nil, format: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]), as: UTF8.self
        )
    }

    private func encoded(resourceVersion: String?, format: JSONEncoder.OutputFormatting) -> Data {
        let object = Body(
            apiVersion: kind.apiVersion, kind: kind.rawValue,
            metadata: .init(
                name: name, namespace: kind.isNamespaced ? namespace : nil, labels: labels, annotations: annotations,
                resourceVersion: resourceVersion),
            rules: rules, roleRef: roleRef, subjects: subjects)
        let encoder = JSONEncoder()
        encoder.outputFormatting = format
        return (try? encoder.encode(object)) ?? Data()
    }

    static func segment(_ text: String) -> String {
        PercentEncoding.pathSegment.encode(text)
    }

    // MARK: - Wire form

    struct Body: Codable {
        struct Metadata: Codable {
            var name: String
            var namespace: String?
            var labels: [String: String]?
            var annotations: [String: String]?
            var resourceVersion: String?
            var uid: String?
        }
        var apiVersion: String?
        var kind: String?
        var metadata: Metadata
        var rules: [Rule]?
        var roleRef: RoleReference?
        var subjects: [Subject]?
    }
}
