import KubernetesAPI

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
        public static let notInCluster = Code(KubernetesError.Code.notInCluster)
        public static let serviceAccountUnreadable = Code(KubernetesError.Code.serviceAccountUnreadable)
        // The stored document.
        public static let documentNotKubeconfig = Code(rawValue: "DocumentNotKubeconfig")
        public static let configMapNotFound = Code(rawValue: "ConfigMapNotFound")
        public static let conflict = Code(rawValue: "ConflictRetriesExhausted")
        // The API server, as `KubernetesError` names its failures.
        public static let apiUnauthorized = Code(KubernetesError.Code.unauthorized)
        public static let apiForbidden = Code(KubernetesError.Code.forbidden)
        public static let apiUnavailable = Code(KubernetesError.Code.unavailable)
        public static let apiServerError = Code(KubernetesError.Code.serverError)
        public static let apiUnreachable = Code(KubernetesError.Code.unreachable)
        public static let apiNotFound = Code(KubernetesError.Code.notFound)
        public static let apiConflict = Code(KubernetesError.Code.conflict)
        public static let apiTimeout = Code(KubernetesError.Code.timeout)
        public static let apiRejected = Code(KubernetesError.Code.rejected)
        public static let apiProtocol = Code(KubernetesError.Code.protocolError)
        // HTTP callers.
        public static let badRequest = Code(rawValue: "BadRequest")
        public static let notFound = Code(rawValue: "NotFound")
        public static let methodNotAllowed = Code(rawValue: "MethodNotAllowed")
        public static let payloadTooLarge = Code(rawValue: "PayloadTooLarge")
        public static let unauthorized = Code(rawValue: "Unauthorized")
        public static let forbidden = Code(rawValue: "Forbidden")
        public static let notPublished = Code(rawValue: "NotPublished")
        public static let siteNotFound = Code(rawValue: "SiteNotFound")

        init(_ code: KubernetesError.Code) { self.rawValue = code.rawValue }
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

    /// The same failure, under the same code.
    public init(_ error: KubernetesError) {
        self.init(code: Code(error.code), message: error.message, retryAfterSeconds: error.retryAfterSeconds)
    }

    public var description: String { "\(code): \(message)" }
}
