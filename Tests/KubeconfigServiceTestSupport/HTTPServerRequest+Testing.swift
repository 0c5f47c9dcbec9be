import HTTPMessages
import HTTPTypes
import KubeconfigService

extension HTTPServerRequest {
    /// A request from strings, as a test writes it; header names must be valid tokens.
    public static func make(
        method: String, path: String, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], body: [UInt8] = [], bodyTooLarge: Bool = false,
        defect: String? = nil
    ) -> HTTPServerRequest {
        var fields = HTTPFields()
        for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        return HTTPServerRequest(
            method: HTTPRequest.Method(method)!, path: path, query: query, headerFields: fields, body: body,
            bodyTooLarge: bodyTooLarge, defect: defect)
    }
}

extension HTTPServerResponse {
    /// The first value of a header field, by a name written as a string.
    public func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { name in headerFields.first { $0.name == name }?.value }
    }
}
