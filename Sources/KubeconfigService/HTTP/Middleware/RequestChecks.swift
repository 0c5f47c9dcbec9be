import HTTPMessages
import HTTPTypes
import KubeconfigBase

/// Refuses what no route should see, before anyone is asked about the caller: a request the
/// HTTP layer found malformed (400), an ambiguous one (two `Authorization` or `Content-Type`
/// headers, a query parameter given twice: which one would count? 400), a body over the limit
/// (413), a method the route does not take (405, with `Allow`).
struct RequestChecks: RouteMiddleware {
    /// Methods the route takes, HEAD added where GET is; nil for any.
    private let methods: [HTTPRequest.Method]?
    /// The `Allow` value of a 405, made once.
    private let allow: String
    private let repeatable: Set<String>

    /// - Parameters:
    ///   - allowed: methods the route takes (GET implies HEAD); nil for any.
    ///   - repeatable: query parameters that may be given more than once.
    init(allowed: [HTTPRequest.Method]?, repeatable: Set<String> = []) {
        methods = allowed.map { $0.contains(.get) ? $0 + [.head] : $0 }
        allow = methods?.map(\.rawValue).joined(separator: ", ") ?? ""
        self.repeatable = repeatable
    }

    func handle(_ request: HTTPServerRequest, next: any RouteHandler) -> HTTPServerResult {
        if let malformed = request.defect {
            return .response(.error(ServiceError(code: .badRequest, message: "malformed request: \(malformed)")))
        }
        for (name, shown) in [(HTTPField.Name.authorization, "Authorization"), (.contentType, "Content-Type")]
        where request.headerFields[values: name].count > 1 {
            return .response(.error(ServiceError(code: .badRequest, message: "a request has one \(shown) header")))
        }
        if let repeated = Self.repeatedParameter(request.query, allowing: repeatable) {
            return .response(
                .error(
                    ServiceError(
                        code: .badRequest,
                        message: "the \(HTTPServerRequest.printable(repeated)) query parameter is given more than once")))
        }
        if request.bodyTooLarge {
            return .response(
                .error(
                    ServiceError(
                        code: .payloadTooLarge,
                        message: "request bodies are limited to \(ServiceRouter.maxBodyBytes / 1024) KiB")))
        }
        if let methods, !methods.contains(request.method) {
            return .response(
                .error(
                    ServiceError(code: .methodNotAllowed, message: "allowed methods: \(allow)"),
                    headerFields: [.allow: allow]))
        }
        return next.handle(request)
    }

    /// The first query parameter given twice, other than those `allowing` names.
    static func repeatedParameter(_ query: [(name: String, value: String)], allowing: Set<String>) -> String? {
        guard query.count > 1 else { return nil }
        var seen: Set<String> = []
        return query.first { !allowing.contains($0.name) && !seen.insert($0.name).inserted }?.name
    }
}
