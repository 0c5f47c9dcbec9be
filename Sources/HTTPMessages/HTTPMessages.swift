import HTTPTypes

/// A request as the HTTP layer read it and routes see it: parsed, body complete.
public struct HTTPServerRequest: Sendable {
    public var method: HTTPRequest.Method
    /// The path, percent-decoded (by the HTTP layer, not microhttpd), without the query.
    public var path: String
    /// Query arguments, decoded, in order.
    public var query: [(name: String, value: String)]
    public var headerFields: HTTPFields
    public var body: [UInt8]
    /// The body exceeded the server's limit; what was read is dropped.
    public var bodyTooLarge: Bool
    /// Why this request is malformed (answer 400), when it is: an undecodable target, NUL in a
    /// header, conflicting framing headers. Path and query are then empty.
    public var defect: String?
    /// Who the request is from, once authentication middleware has established it (for audit).
    public var authenticatedUser: String?
    /// The path's parameters, set by the router that matched it: `name` of `/sites/{name}`.
    public var parameters: [String: String] = [:]

    public init(
        method: HTTPRequest.Method, path: String, query: [(name: String, value: String)] = [],
        headerFields: HTTPFields = [:], body: [UInt8] = [], bodyTooLarge: Bool = false, defect: String? = nil
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headerFields = headerFields
        self.body = body
        self.bodyTooLarge = bodyTooLarge
        self.defect = defect
    }
}

/// A response to send. `body` is not sent for HEAD requests (microhttpd handles that).
public struct HTTPServerResponse: Sendable {
    public var status: HTTPResponse.Status
    public var headerFields: HTTPFields
    public var body: [UInt8]

    public init(status: HTTPResponse.Status, headerFields: HTTPFields = [:], body: [UInt8] = []) {
        self.status = status
        self.headerFields = headerFields
        self.body = body
    }
}

/// How a responder answers: at once on the server's thread, or later from async work, during
/// which the connection is suspended and the thread serves others.
public enum HTTPServerResult: Sendable {
    case response(HTTPServerResponse)
    case deferred(@Sendable () async -> HTTPServerResponse)
}

/// Called on the HTTP server's threads once per complete request. Must not block.
public protocol HTTPResponder: Sendable {
    func respond(to request: HTTPServerRequest) -> HTTPServerResult
}
