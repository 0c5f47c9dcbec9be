/// A failure to reach or use a Kubernetes API server, or to find the pod's own credentials.
///
/// Messages never contain credentials: they are built from names, URLs and the API server's
/// own Status messages, which do not echo tokens.
public struct KubernetesError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable identifier; the service sends it to HTTP callers as `error.code`.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        // In-cluster discovery.
        public static let notInCluster = Code(rawValue: "NotInCluster")
        public static let serviceAccountUnreadable = Code(rawValue: "ServiceAccountUnreadable")
        // Answers of the API server, and the lack of one.
        public static let unauthorized = Code(rawValue: "APIServerUnauthorized")
        public static let forbidden = Code(rawValue: "APIServerForbidden")
        public static let unavailable = Code(rawValue: "APIServerUnavailable")
        public static let serverError = Code(rawValue: "APIServerError")
        public static let unreachable = Code(rawValue: "APIServerUnreachable")
        public static let notFound = Code(rawValue: "APIServerNotFound")
        public static let conflict = Code(rawValue: "APIServerConflict")
        public static let timeout = Code(rawValue: "APIServerTimeout")
        public static let rejected = Code(rawValue: "APIServerRejected")
        public static let protocolError = Code(rawValue: "APIServerProtocolError")
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

    /// Whether trying the same call again may succeed: overload, outage, timeouts, lost connections.
    public var isRetryable: Bool {
        switch code {
        case .unavailable, .serverError, .timeout, .unreachable: return true
        default: return false
        }
    }
}
