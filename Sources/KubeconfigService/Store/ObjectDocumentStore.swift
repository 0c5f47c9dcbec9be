import FoundationEssentials
import KubeconfigBase
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
        return try document(of: object)
    }

    /// The document `object` holds, and what its other keys leave of the size limit.
    func document(of object: DataObject) throws(ServiceError) -> StoredDocument {
        // ValidateConfigMap and ValidateSecret count the values' bytes (a Secret's decoded).
        var others = 0
        for (otherKey, value) in object.data ?? [:] where otherKey != key {
            others += resource == .secrets ? (Data(base64Encoded: value)?.count ?? value.utf8.count) : value.utf8.count
        }
        for value in (object.binaryData ?? [:]).values {
            others += Data(base64Encoded: value)?.count ?? value.utf8.count
        }
        return StoredDocument(
            text: try object.data?[key].map(decode), annotations: object.metadata.annotations ?? [:],
            version: object.metadata.resourceVersion, capacity: max(0, Self.maxDataBytes - others))
    }

    /// The API server's limit on a ConfigMap's or Secret's data (`core.MaxSecretSize`, 1 MiB).
    public static let maxDataBytes = 1 << 20

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

extension ObjectDocumentStore: WatchableDocumentStore {
    private var watchAPI: any DataObjectWatchAPI {
        get throws(ServiceError) {
            guard let api = api as? any DataObjectWatchAPI else {
                throw ServiceError(code: .apiRejected, message: "this connection cannot list or watch \(resource.rawValue)")
            }
            return api
        }
    }

    public func list() async throws(ServiceError) -> DocumentListing {
        let list = try await watchAPI.listDataObjects(resource, namespace: namespace, name: name)
        guard let object = list.items.first else { return DocumentListing(document: nil, version: list.resourceVersion) }
        do throws(ServiceError) {
            return DocumentListing(document: try document(of: object), version: list.resourceVersion)
        } catch {
            return DocumentListing(document: nil, version: list.resourceVersion, unreadable: error)
        }
    }

    public func watch(
        from version: String, timeoutSeconds: Int, receive: @escaping @Sendable (DocumentEvent) async -> Void
    ) async throws(ServiceError) {
        try await watchAPI.watchDataObjects(
            resource, namespace: namespace, name: name, resourceVersion: version, timeoutSeconds: timeoutSeconds
        ) { event in
            switch event {
            case .added(let object), .modified(let object):
                do throws(ServiceError) {
                    await receive(.stored(try self.document(of: object)))
                } catch {
                    await receive(.unreadable(version: object.metadata.resourceVersion, error))
                }
            case .deleted(let object): await receive(.deleted(version: object.metadata.resourceVersion))
            case .bookmark(let version): await receive(.bookmark(version: version))
            }
        }
    }
}
