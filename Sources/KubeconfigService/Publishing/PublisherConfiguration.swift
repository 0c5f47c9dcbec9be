import KubernetesAPI

/// Where and under which names this site's entries are published.
public struct PublisherConfiguration: Sendable {
    /// Namespace of the object that holds the document (and of the issued token's account).
    public var namespace: String
    /// Cluster and context name of this site.
    public var location: String = "central"
    /// User entry name.
    public var user: String = "user00"
    /// ConfigMap that holds the document (owned by Helm; never created here).
    public var configMapName: String = "multisite-kubeconfig-configmap"
    /// Secret that holds the document instead of the ConfigMap; nil keeps the ConfigMap.
    public var secretName: String?
    /// Data key of the document inside the object.
    public var key: String = "kubeconfig"

    public init(namespace: String) {
        self.namespace = namespace
    }

    /// The kind of object that holds the document.
    public var resource: DataObjectResource { secretName == nil ? .configMaps : .secrets }
    /// The name of the object that holds the document.
    public var objectName: String { secretName ?? configMapName }
    /// `configmap onap/name`, as operators and error messages name the object.
    public var objectReference: String { "\(resource.singular) \(namespace)/\(objectName)" }
}
