import Foundation
import KubernetesAPI

/// The document as one data key of a ConfigMap or Secret that the Helm release owns.
///
/// A write is a JSON merge patch of that one key (and of our annotations) carrying the
/// `resourceVersion` that was read, so other keys, labels and annotations are untouched and a
/// concurrent write is a 409, not a lost update. A Secret's value is base64 on the wire, as the
/// API requires. The object is never created here.
public struct ObjectDocumentStore: DocumentStore {
    public let api: any DataObjectAPI
    public let resource: DataObjectResource
    public let namespace: String
    public let name: String
    public let key: String

    public init(api: any DataObjectAPI, resource: DataObjectResource = .configMaps, namespace: String, name: String, key: String)
    {
        self.api = api
        self.resource = resource
        self.namespace = namespace
        self.name = name
        self.key = key
    }

    /// `namespace/name`, as operators name the object.
    public var reference: String { "\(namespace)/\(name)" }

    public var origin: String { "key \"\(key)\" of \(resource.singular) \(reference)" }

    public func read() async throws(ServiceError) -> StoredDocument {
        let object = try await missingAsNotFound { () async throws(ServiceError) in
            try await api.dataObject(resource, namespace: namespace, name: name)
        }
        return StoredDocument(
            text: try object.data?[key].map(decode), annotations: object.metadata.annotations ?? [:],
            version: object.metadata.resourceVersion)
    }

    public func write(
        _ text: String, annotations: [String: String?], ifVersion version: String
    ) async throws(ServiceError) -> String {
        let patch = DataObjectPatch(resourceVersion: version, data: [key: encode(text)], annotations: annotations)
        let written = try await missingAsNotFound { () async throws(ServiceError) in
            try await api.patchDataObject(resource, namespace: namespace, name: name, patch)
        }
        return written.metadata.resourceVersion
    }

    private func encode(_ text: String) -> String {
        resource == .secrets ? Data(text.utf8).base64EncodedString() : text
    }

    /// A Secret's value from base64; one that is not UTF-8 text is no kubeconfig, and is left alone.
    private func decode(_ value: String) throws(ServiceError) -> String {
        guard resource == .secrets else { return value }
        guard let bytes = Data(base64Encoded: value), let text = String(data: bytes, encoding: .utf8) else {
            throw ServiceError(
                code: .documentNotKubeconfig, message: "\(origin) is not base64 of UTF-8 text; refusing to overwrite it")
        }
        return text
    }

    private func missingAsNotFound<T>(
        _ call: () async throws(ServiceError) -> T
    ) async throws(ServiceError) -> T {
        do throws(ServiceError) {
            return try await call()
        } catch  where error.code == .apiNotFound {
            throw ServiceError(
                code: resource == .secrets ? .secretNotFound : .configMapNotFound,
                message: "\(resource.singular) \(reference) not found; it is created by the Helm release, never by this "
                    + "service (\(error.message))")
        }
    }
}
