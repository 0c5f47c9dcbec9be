import FoundationEssentials
import KubeconfigBase
import KubernetesAPI

/// The Secret a sink wants for one site, exactly: its labels, annotations and data. A pure
/// function of the document, so every replica wants the same bytes and the same content is
/// never written twice.
public struct SinkSecret: Sendable, Equatable {
    static let managedByLabel = "app.kubernetes.io/managed-by"
    static let managedByValue = "kubeconfig-service"
    /// Which sink wrote it: both may share a namespace.
    static let sinkLabel = "kubeconfig-service.onap.org/sink"
    /// The site, when its name fits a label value (63 characters); the annotation always names it.
    static let siteLabel = "kubeconfig-service.onap.org/site"
    static let siteAnnotation = "kubeconfig-service.onap.org/site"
    /// The document's object (`configmap onap/multisite-kubeconfig-configmap`): services of
    /// other documents writing into the same namespace leave each other's Secrets alone.
    static let documentAnnotation = "kubeconfig-service.onap.org/document"
    /// The resourceVersion of the document version it was written from: a replica that has not
    /// yet seen that version leaves it alone rather than write its older view back. Not content:
    /// a version that changes nothing for the site writes nothing.
    static let versionAnnotation = "kubeconfig-service.onap.org/document-version"
    static let argoCDSecretTypeLabel = "argocd.argoproj.io/secret-type"
    static let fluxWatchLabel = "reconcile.fluxcd.io/watch"
    /// The label selector the sinks list and watch their namespace with.
    static func selector(of kind: SinkKind) -> String {
        "\(managedByLabel)=\(managedByValue),\(sinkLabel)=\(kind.rawValue)"
    }

    public var name: String
    public var site: String
    public var labels: [String: String]
    public var annotations: [String: String]
    /// Plain values (base64-encoded when written).
    public var data: [String: String]
    /// The document version it is derived from (`versionAnnotation`).
    public var documentVersion: String

    /// The object to send: a replacement carries the `resourceVersion` it was decided on.
    func object(namespace: String, resourceVersion: String? = nil) -> SecretObject {
        SecretObject(
            metadata: .init(
                name: name, namespace: namespace, resourceVersion: resourceVersion, labels: labels,
                annotations: annotations.merging([Self.versionAnnotation: documentVersion]) { _, version in version }),
            type: "Opaque", data: encodedData)
    }

    private var encodedData: [String: String] {
        data.mapValues { Data($0.utf8).base64EncodedString() }
    }

    /// Whether `object` already says exactly this (labels, annotations, type and data as a
    /// whole: an extra label or key someone added is drift, and goes).
    func isWritten(as object: SecretObject) -> Bool {
        var found = object.metadata.annotations ?? [:]
        found[Self.versionAnnotation] = nil
        return (object.metadata.labels ?? [:]) == labels && found == annotations
            && (object.type ?? "Opaque") == "Opaque" && (object.data ?? [:]) == encodedData
    }

    /// Whether `object` was written from a later document version than `version` (both
    /// resourceVersions, which etcd makes increasing integers; when either is not one, no).
    static func isNewer(_ object: SecretObject, than version: String) -> Bool {
        guard let written = object.metadata.annotations?[versionAnnotation].flatMap(UInt64.init), let ours = UInt64(version)
        else { return false }
        return written > ours
    }

    /// Whether `object` is one of this sink's for `document`: labelled as ours, by this sink,
    /// annotated with this document. Anything else of a wanted name is never changed or deleted.
    static func isOurs(_ object: SecretObject, kind: SinkKind, document: String) -> Bool {
        let labels = object.metadata.labels ?? [:]
        return labels[managedByLabel] == managedByValue && labels[sinkLabel] == kind.rawValue
            && object.metadata.annotations?[documentAnnotation] == document
    }

    /// Why an object of a wanted name is not ours, for the site's error.
    static func whyNotOurs(_ object: SecretObject, kind: SinkKind, namespace: String) -> String {
        let labels = object.metadata.labels ?? [:]
        let reference = "secret \(namespace)/\(object.metadata.name)"
        guard labels[managedByLabel] == managedByValue, labels[sinkLabel] == kind.rawValue else {
            return "\(reference) exists and is not labelled \(managedByLabel)=\(managedByValue), "
                + "\(sinkLabel)=\(kind.rawValue): it is someone else's and is left alone; delete or rename it to let the "
                + "service write it"
        }
        let other = object.metadata.annotations?[documentAnnotation] ?? "no document"
        return "\(reference) is written for another document (\(other.prefix(200))) and is left alone"
    }
}
