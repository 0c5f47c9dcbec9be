/// Where and under which names this site's entries are published.
public struct PublisherConfiguration: Sendable {
    /// Namespace of the ConfigMap.
    public var namespace: String
    /// Cluster and context name of this site.
    public var location: String = "central"
    /// User entry name.
    public var user: String = "user00"
    /// ConfigMap that holds the document (owned by Helm; never created here).
    public var configMapName: String = "multisite-kubeconfig-configmap"
    /// Data key of the document inside the ConfigMap.
    public var key: String = "kubeconfig"

    public init(namespace: String) {
        self.namespace = namespace
    }

    /// `namespace/name`, as operators and error messages name the ConfigMap.
    public var configMapReference: String { "\(namespace)/\(configMapName)" }
}
