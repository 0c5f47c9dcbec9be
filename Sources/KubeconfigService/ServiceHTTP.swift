/// An HTTP request as the router sees it: already parsed, body already read.
public struct ServiceRequest: Sendable {
    /// `GET`, `POST`, ... as sent.
    public var method: String
    /// The path, percent-decoded, without the query.
    public var path: String
    /// Query arguments, decoded, in order.
    public var query: [(name: String, value: String)]
    /// Header fields; names compare case-insensitively.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// The body was larger than the server accepts and was not kept.
    public var bodyTooLarge: Bool
    /// Why the HTTP layer found the request malformed, if it did: it is answered 400.
    public var malformed: String?

    public init(
        method: String, path: String, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], body: [UInt8] = [], bodyTooLarge: Bool = false,
        malformed: String? = nil
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.bodyTooLarge = bodyTooLarge
        self.malformed = malformed
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    public func queryValue(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }
}

/// An HTTP response the router built.
public struct ServiceResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    static func text(_ status: Int, _ text: String) -> ServiceResponse {
        ServiceResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Array(text.utf8))
    }

    static func json(_ status: Int, _ body: [UInt8], headers: [(name: String, value: String)] = []) -> ServiceResponse {
        ServiceResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: body)
    }

    /// `{"error": {"code": ..., "message": ...}}` with the status the code maps to.
    static func error(_ error: ServiceError, headers: [(name: String, value: String)] = []) -> ServiceResponse {
        var body = "{\"error\":{\"code\":"
        DocumentNode.writeJSONString(error.code.rawValue, to: &body)
        body += ",\"message\":"
        DocumentNode.writeJSONString(error.message, to: &body)
        body += "}}\n"
        var extra = headers
        if let retryAfter = error.retryAfterSeconds, error.httpStatus == 503 { extra.append(("Retry-After", String(retryAfter))) }
        return .json(error.httpStatus, Array(body.utf8), headers: extra)
    }
}

/// What routing a request gives: an answer now, or work to finish off the server's threads.
public enum RouteResult: Sendable {
    case response(ServiceResponse)
    case deferred(@Sendable () async -> ServiceResponse)
}

extension ServiceError {
    /// The HTTP status for this error: the one place codes become statuses.
    public var httpStatus: Int {
        switch code {
        case .badRequest: return 400
        case .unauthorized: return 401
        case .forbidden: return 403
        case .notFound, .siteNotFound: return 404
        case .methodNotAllowed: return 405
        case .documentNotKubeconfig: return 409
        case .payloadTooLarge: return 413
        case .notPublished, .apiUnavailable, .conflict: return 503
        case .notInCluster, .serviceAccountUnreadable: return 500
        case .apiTimeout: return 504
        default: return 502
        }
    }
}

extension String {
    /// ASCII case-insensitive equality, as header names compare; allocates nothing.
    func caseInsensitiveEquals(_ other: String) -> Bool {
        utf8.elementsEqual(other.utf8) { $0 | 0x20 == $1 | 0x20 && ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a || $0 == $1) }
    }
}
