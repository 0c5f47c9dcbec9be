import HTTPMessages
import HTTPTypes
import KubernetesAPI

/// Refuses what no route should see: a request the HTTP layer found malformed (400), an
/// ambiguous one (two `Authorization` headers: which one would be checked? 400), a body over
/// the limit (413), a method the route does not take (405, with `Allow`).
struct RequestChecks: RouteMiddleware {
    /// Methods the route takes, HEAD added where GET is; nil for any.
    private let methods: [HTTPRequest.Method]?
    /// The `Allow` value of a 405, made once.
    private let allow: String

    /// - Parameter allowed: methods the route takes (GET implies HEAD); nil for any.
    init(allowed: [HTTPRequest.Method]?) {
        methods = allowed.map { $0.contains(.get) ? $0 + [.head] : $0 }
        allow = methods?.map(\.rawValue).joined(separator: ", ") ?? ""
    }

    func handle(_ request: HTTPServerRequest, next: any RouteHandler) -> HTTPServerResult {
        if let malformed = request.defect {
            return .response(.error(ServiceError(code: .badRequest, message: "malformed request: \(malformed)")))
        }
        if request.headerFields[values: .authorization].count > 1 {
            return .response(.error(ServiceError(code: .badRequest, message: "a request has one Authorization header")))
        }
        if request.bodyTooLarge {
            return .response(
                .error(ServiceError(code: .payloadTooLarge, message: "request bodies are limited to 64 KiB")))
        }
        if let methods, !methods.contains(request.method) {
            return .response(
                .error(
                    ServiceError(code: .methodNotAllowed, message: "allowed methods: \(allow)"),
                    headerFields: [.allow: allow]))
        }
        return next.handle(request)
    }
}
