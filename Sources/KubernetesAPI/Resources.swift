/// The parts of a ConfigMap this service reads.
public struct ConfigMap: Decodable, Sendable {
    public struct Metadata: Decodable, Sendable {
        public var name: String
        public var namespace: String?
        public var resourceVersion: String

        public init(name: String, namespace: String?, resourceVersion: String) {
            self.name = name
            self.namespace = namespace
            self.resourceVersion = resourceVersion
        }
    }
    public var metadata: Metadata
    public var data: [String: String]?

    public init(metadata: Metadata, data: [String: String]?) {
        self.metadata = metadata
        self.data = data
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
