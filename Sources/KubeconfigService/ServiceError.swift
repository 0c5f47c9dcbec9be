/// A failure with a stable machine-readable code and a message an operator can act on.
///
/// Messages never contain credentials: they are built from names, URLs and the API server's
/// own Status messages, which do not echo tokens.
public struct ServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable identifier, sent to HTTP callers as `error.code`.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        // Discovery and local input.
        public static let notInCluster = Code(rawValue: "NotInCluster")
        public static let serviceAccountUnreadable = Code(rawValue: "ServiceAccountUnreadable")
        // The stored document.
        public static let documentNotKubeconfig = Code(rawValue: "DocumentNotKubeconfig")
        // The API server.
        public static let configMapNotFound = Code(rawValue: "ConfigMapNotFound")
        public static let apiUnauthorized = Code(rawValue: "APIServerUnauthorized")
        public static let apiForbidden = Code(rawValue: "APIServerForbidden")
        public static let apiUnavailable = Code(rawValue: "APIServerUnavailable")
        public static let apiServerError = Code(rawValue: "APIServerError")
        public static let apiUnreachable = Code(rawValue: "APIServerUnreachable")
        public static let apiNotFound = Code(rawValue: "APIServerNotFound")
        public static let apiConflict = Code(rawValue: "APIServerConflict")
        public static let apiTimeout = Code(rawValue: "APIServerTimeout")
        public static let apiRejected = Code(rawValue: "APIServerRejected")
        public static let apiProtocol = Code(rawValue: "APIServerProtocolError")
        public static let conflict = Code(rawValue: "ConflictRetriesExhausted")
        // HTTP callers.
        public static let badRequest = Code(rawValue: "BadRequest")
        public static let notFound = Code(rawValue: "NotFound")
        public static let methodNotAllowed = Code(rawValue: "MethodNotAllowed")
        public static let payloadTooLarge = Code(rawValue: "PayloadTooLarge")
        public static let unauthorized = Code(rawValue: "Unauthorized")
        public static let forbidden = Code(rawValue: "Forbidden")
        public static let notPublished = Code(rawValue: "NotPublished")
        public static let siteNotFound = Code(rawValue: "SiteNotFound")
    }

    public var code: Code
    public var message: String
    /// Seconds the server asked us to wait (429/503 `Retry-After`), when it said so.
    public var retryAfterSeconds: Int?

    public init(code: Code, message: String, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(code): \(message)" }
}
