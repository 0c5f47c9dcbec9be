import FoundationEssentials
import KubeconfigBase

/// The kinds of object that can hold the shared document: both keep string values under `data`.
public enum DataObjectResource: String, Sendable, Hashable {
    case configMaps = "configmaps"
    case secrets = "secrets"

    /// The singular name operators and error messages use: `configmap`, `secret`.
    public var singular: String {
        switch self {
        case .configMaps: "configmap"
        case .secrets: "secret"
        }
    }
}

/// The parts of a ConfigMap or Secret this service reads. A Secret's `data` values are base64,
/// as the API sends them; decoding them is the caller's business.
public struct DataObject: Decodable, Sendable, Equatable {
    public struct Metadata: Decodable, Sendable, Equatable {
        public var name: String
        public var namespace: String?
        public var resourceVersion: String
        public var annotations: [String: String]?

        public init(name: String, namespace: String?, resourceVersion: String, annotations: [String: String]? = nil) {
            self.name = name
            self.namespace = namespace
            self.resourceVersion = resourceVersion
            self.annotations = annotations
        }
    }
    public var metadata: Metadata
    public var data: [String: String]?
    /// A ConfigMap's binary values (base64); they count towards its size limit.
    public var binaryData: [String: String]?

    public init(metadata: Metadata, data: [String: String]?, binaryData: [String: String]? = nil) {
        self.metadata = metadata
        self.data = data
        self.binaryData = binaryData
    }
}

/// One conditional change of a ConfigMap or Secret: data keys and annotations to set or (nil)
/// remove, and the `resourceVersion` the change was made against.
public struct DataObjectPatch: Sendable, Equatable {
    public var resourceVersion: String
    public var data: [String: String?]
    public var annotations: [String: String?]

    public init(resourceVersion: String, data: [String: String?], annotations: [String: String?] = [:]) {
        self.resourceVersion = resourceVersion
        self.data = data
        self.annotations = annotations
    }
}

/// A token the TokenRequest API issued, and when it stops being valid.
public struct IssuedToken: Sendable, Equatable {
    public var token: BearerToken
    /// The response's `status.expirationTimestamp`: the API server may grant less than asked.
    public var expiresAt: Date

    public init(token: BearerToken, expiresAt: Date) {
        self.token = token
        self.expiresAt = expiresAt
    }
}

/// Who a bearer token belongs to, as a TokenReview says.
public struct AuthenticatedUser: Sendable, Equatable, Codable {
    public var username: String
    public var uid: String?
    public var groups: [String]?
    public var extra: [String: [String]]?

    public init(username: String, uid: String? = nil, groups: [String]? = nil, extra: [String: [String]]? = nil) {
        self.username = username
        self.uid = uid
        self.groups = groups
        self.extra = extra
    }
}
