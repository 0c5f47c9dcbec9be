import HTTPMessages
import HTTPTypes
import KubeconfigBase
import KubeconfigService

extension HTTPServerResponse {
    static func text(_ status: HTTPResponse.Status, _ text: String) -> HTTPServerResponse {
        HTTPServerResponse(status: status, headerFields: [.contentType: "text/plain; charset=utf-8"], body: Array(text.utf8))
    }

    static func json(_ status: HTTPResponse.Status, _ body: [UInt8], headerFields: HTTPFields = [:]) -> HTTPServerResponse {
        var fields: HTTPFields = [.contentType: "application/json"]
        fields.append(contentsOf: headerFields)
        return HTTPServerResponse(status: status, headerFields: fields, body: body)
    }

    /// `{"error": {"code": ..., "message": ...}}` with the status the code maps to.
    static func error(_ error: ServiceError, headerFields: HTTPFields = [:]) -> HTTPServerResponse {
        var body = "{\"error\":{\"code\":"
        JSONString.write(error.code.rawValue, to: &body)
        body += ",\"message\":"
        JSONString.write(error.message, to: &body)
        body += "}}\n"
        var extra = headerFields
        if let retryAfter = error.retryAfterSeconds, [.serviceUnavailable, .tooManyRequests].contains(error.httpStatus) {
            extra[.retryAfter] = String(retryAfter)
        }
        return .json(error.httpStatus, Array(body.utf8), headerFields: extra)
    }
}

extension HTTPServerResult {
    /// The answer, waiting for deferred work.
    public func response() async -> HTTPServerResponse {
        switch self {
        case .response(let response): return response
        case .deferred(let work): return await work()
        }
    }
}
