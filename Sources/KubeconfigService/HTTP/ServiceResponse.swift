import HTTPTypes

/// An HTTP response a route built.
public struct ServiceResponse: Sendable {
    public var status: HTTPResponse.Status
    public var headerFields: HTTPFields
    public var body: [UInt8]

    public init(status: HTTPResponse.Status, headerFields: HTTPFields = [:], body: [UInt8] = []) {
        self.status = status
        self.headerFields = headerFields
        self.body = body
    }

    static func text(_ status: HTTPResponse.Status, _ text: String) -> ServiceResponse {
        ServiceResponse(status: status, headerFields: [.contentType: "text/plain; charset=utf-8"], body: Array(text.utf8))
    }

    static func json(_ status: HTTPResponse.Status, _ body: [UInt8], headerFields: HTTPFields = [:]) -> ServiceResponse {
        var fields: HTTPFields = [.contentType: "application/json"]
        fields.append(contentsOf: headerFields)
        return ServiceResponse(status: status, headerFields: fields, body: body)
    }

    /// `{"error": {"code": ..., "message": ...}}` with the status the code maps to.
    static func error(_ error: ServiceError, headerFields: HTTPFields = [:]) -> ServiceResponse {
        var body = "{\"error\":{\"code\":"
        DocumentNode.writeJSONString(error.code.rawValue, to: &body)
        body += ",\"message\":"
        DocumentNode.writeJSONString(error.message, to: &body)
        body += "}}\n"
        var extra = headerFields
        if let retryAfter = error.retryAfterSeconds, error.httpStatus == .serviceUnavailable {
            extra[.retryAfter] = String(retryAfter)
        }
        return .json(error.httpStatus, Array(body.utf8), headerFields: extra)
    }
}

/// What a route gives: an answer now, or work to finish off the server's threads.
public enum RouteResult: Sendable {
    case response(ServiceResponse)
    case deferred(@Sendable () async -> ServiceResponse)

    /// The answer, waiting for deferred work.
    public func response() async -> ServiceResponse {
        switch self {
        case .response(let response): return response
        case .deferred(let work): return await work()
        }
    }

    /// The same result with `transform` applied to its answer, now or when the work is done.
    func map(_ transform: @escaping @Sendable (ServiceResponse) -> ServiceResponse) -> RouteResult {
        switch self {
        case .response(let response): return .response(transform(response))
        case .deferred(let work): return .deferred { transform(await work()) }
        }
    }
}
