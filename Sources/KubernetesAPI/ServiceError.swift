/// A failure with a stable machine-readable code and a message an operator can act on.
///
/// The one error type of every module: this one declares the codes of discovery and the API
/// server; the core adds its own (`ServiceError.Code` is open, not an ever-growing enum).
/// Messages never contain credentials or library internals: they are built from names, URLs,
/// causes in words (`TransportFailure`) and a server's own `Status.message`, bounded and with
/// every credential presented to it removed (`APIStatus`, `CredentialRedaction`).
public struct ServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable identifier, sent to HTTP callers as `error.code`.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        // In-cluster discovery.
        public static let notInCluster = Code(rawValue: "NotInCluster")
        public static let serviceAccountUnreadable = Code(rawValue: "ServiceAccountUnreadable")
        // Answers of the API server, and the lack of one.
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
        // Probes of a site's API server.
        public static let siteDNSFailed = Code(rawValue: "SiteDNSFailed")
        public static let siteConnectionRefused = Code(rawValue: "SiteConnectionRefused")
        /// The site's certificate did not verify: not signed by its CA, out of date, another name.
        public static let siteTLSFailed = Code(rawValue: "SiteTLSVerificationFailed")
        /// What answers at the site's server is not TLS at all (a plain-HTTP or SSH port).
        public static let siteNotTLS = Code(rawValue: "SiteNotTLS")
        /// The TLS handshake failed before any certificate was judged: the server refused it or
        /// closed the connection.
        public static let siteTLSHandshakeFailed = Code(rawValue: "SiteTLSHandshakeFailed")
        public static let siteUnauthorized = Code(rawValue: "SiteUnauthorized")
        public static let siteTimeout = Code(rawValue: "SiteTimeout")
        public static let siteUnreachable = Code(rawValue: "SiteUnreachable")
        public static let siteProbeFailed = Code(rawValue: "SiteProbeFailed")
        // Certificates and keys a caller handed in.
        public static let certificateUnreadable = Code(rawValue: "CertificateUnreadable")
        public static let keyUnreadable = Code(rawValue: "KeyUnreadable")
        public static let keyMismatch = Code(rawValue: "KeyMismatch")
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
        case .apiUnavailable, .apiServerError, .apiTimeout, .apiUnreachable: return true
        default: return false
        }
    }
}
