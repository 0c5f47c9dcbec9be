import KubeconfigBase

/// The formats the service writes sites' Secrets in, one Secret per site.
public enum SinkKind: String, Sendable, CaseIterable, Encodable, Comparable {
    /// Argo CD's declarative cluster Secret, `cluster-<site>`: keys `name`, `server`, `config`.
    case argocd
    /// The Cluster API convention Flux's `kubeConfig.secretRef` reads, `<site>-kubeconfig`: key
    /// `value`, a kubeconfig of the site alone.
    case kubeconfig

    /// The Secret a site's credential is written to.
    public func secretName(site: String) -> String {
        switch self {
        case .argocd: "cluster-\(site)"
        case .kubeconfig: "\(site)-kubeconfig"
        }
    }

    public static func < (lhs: SinkKind, rhs: SinkKind) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One sink: which format, into which namespace, for which sites.
public struct SinkConfiguration: Sendable, Equatable {
    public var kind: SinkKind
    /// The namespace the Secrets are written in.
    public var namespace: String
    /// The sites this sink gets, by their labels (`.everything`: all).
    public var selector: LabelSelector

    public init(kind: SinkKind, namespace: String, selector: LabelSelector = .everything) {
        self.kind = kind
        self.namespace = namespace
        self.selector = selector
    }

    /// Whether `namespace` can name a namespace (a DNS-1123 label).
    public static func isNamespace(_ namespace: String) -> Bool {
        SiteRegistration.isDNSLabel(Substring(namespace))
    }
}
