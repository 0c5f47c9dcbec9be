import KubeconfigBase

extension ServiceError.Code {
    // In-cluster discovery.
    public static let notInCluster = Self(rawValue: "NotInCluster")
    public static let serviceAccountUnreadable = Self(rawValue: "ServiceAccountUnreadable")
    // Answers of the API server, and the lack of one.
    public static let apiUnauthorized = Self(rawValue: "APIServerUnauthorized")
    public static let apiForbidden = Self(rawValue: "APIServerForbidden")
    public static let apiUnavailable = Self(rawValue: "APIServerUnavailable")
    public static let apiServerError = Self(rawValue: "APIServerError")
    public static let apiUnreachable = Self(rawValue: "APIServerUnreachable")
    public static let apiNotFound = Self(rawValue: "APIServerNotFound")
    public static let apiConflict = Self(rawValue: "APIServerConflict")
    public static let apiTimeout = Self(rawValue: "APIServerTimeout")
    public static let apiRejected = Self(rawValue: "APIServerRejected")
    public static let apiProtocol = Self(rawValue: "APIServerProtocolError")
    // Probes of a site's API server.
    public static let siteDNSFailed = Self(rawValue: "SiteDNSFailed")
    public static let siteConnectionRefused = Self(rawValue: "SiteConnectionRefused")
    /// The site's certificate did not verify: not signed by its CA, out of date, another name.
    public static let siteTLSFailed = Self(rawValue: "SiteTLSVerificationFailed")
    /// What answers at the site's server is not TLS at all (a plain-HTTP or SSH port).
    public static let siteNotTLS = Self(rawValue: "SiteNotTLS")
    /// The TLS handshake failed before any certificate was judged: the server refused it or
    /// closed the connection.
    public static let siteTLSHandshakeFailed = Self(rawValue: "SiteTLSHandshakeFailed")
    public static let siteUnauthorized = Self(rawValue: "SiteUnauthorized")
    public static let siteTimeout = Self(rawValue: "SiteTimeout")
    public static let siteUnreachable = Self(rawValue: "SiteUnreachable")
    public static let siteProbeFailed = Self(rawValue: "SiteProbeFailed")
    // Certificates and keys a caller handed in.
    public static let certificateUnreadable = Self(rawValue: "CertificateUnreadable")
    public static let keyUnreadable = Self(rawValue: "KeyUnreadable")
    public static let keyMismatch = Self(rawValue: "KeyMismatch")
}

extension ServiceError {
    /// Whether trying the same call again may succeed: overload, outage, timeouts, lost connections.
    public var isRetryable: Bool {
        switch code {
        case .apiUnavailable, .apiServerError, .apiTimeout, .apiUnreachable: return true
        default: return false
        }
    }
}
