import HTTPTypes

/// A request as read off the connection; the body is complete.
public struct HTTPServerRequest: Sendable {
    public var method: HTTPRequest.Method
    /// The path, percent-decoded by us (microhttpd's unescaping is off), without the query.
    public var path: String
    public var query: [(name: String, value: String)]
    public var headerFields: HTTPFields
    public var body: [UInt8]
    /// The body exceeded `maxBodyBytes`; what was read is dropped.
    public var bodyTooLarge: Bool
    /// Why this request is malformed (answer 400), when it is: an undecodable target, NUL in a
    /// header, conflicting framing headers. Path and query are then empty.
    public var defect: String?
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

/// Called on microhttpd's threads once per complete request. Must not block.
public protocol HTTPResponder: Sendable {
    func respond(to request: HTTPServerRequest) -> HTTPServerResult
}

/// A failure to start the server, with what to check.
public struct HTTPServerError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
