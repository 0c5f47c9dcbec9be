import KubernetesAPI

/// The document as one data key of a ConfigMap that the Helm release owns.
///
/// A write is a JSON merge patch of that one key carrying the `resourceVersion` that was read,
/// so other keys, labels and annotations are untouched and a concurrent write is a 409, not a
/// lost update. The ConfigMap is never created here.
public struct ConfigMapDocumentStore: DocumentStore {
    public let api: any ConfigMapAPI
    public let namespace: String
    public let name: String
    public let key: String

    public init(api: any ConfigMapAPI, namespace: String, name: String, key: String) {
        self.api = api
        self.namespace = namespace
        self.name = name
        self.key = key
    }

    /// `namespace/name`, as operators name the ConfigMap.
    public var reference: String { "\(namespace)/\(name)" }

    public var origin: String { "key \"\(key)\" of configmap \(reference)" }

    public func read() async throws(ServiceError) -> StoredDocument {
        let configMap = try await missingAsNotFound { () async throws(ServiceError) in
            try await api.configMap(namespace: namespace, name: name)
        }
        return StoredDocument(text: configMap.data?[key], version: configMap.metadata.resourceVersion)
    }

    public func write(_ text: String, ifVersion version: String) async throws(ServiceError) -> String {
        let written = try await missingAsNotFound { () async throws(ServiceError) in
            try await api.patchConfigMapData(
                namespace: namespace, name: name, key: key, value: text, resourceVersion: version)
        }
        return written.metadata.resourceVersion
    }

    private func missingAsNotFound<T>(
        _ call: () async throws(ServiceError) -> T
    ) async throws(ServiceError) -> T {
        do throws(ServiceError) {
            return try await call()
        } catch  where error.code == .apiNotFound {
            throw ServiceError(
                code: .configMapNotFound,
                message: "configmap \(reference) not found; it is created by the Helm release, never by this service "
                    + "(\(error.message))")
        }
    }
}
