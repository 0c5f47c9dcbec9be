import HTTPMessages
import HTTPTypes
import KubernetesAPI

/// Refuses what no route should see: a request the HTTP layer found malformed (400), a body
/// over the limit (413), a method the route does not take (405, with `Allow`).
struct RequestChecks: RouteMiddleware {
    /// Methods the route takes (GET implies HEAD); nil for any.
    let allowed: [HTTPRequest.Method]?

    func handle(_ request: HTTPServerRequest, next: any RouteHandler) -> HTTPServerResult {
        if let malformed = request.defect {
            return .response(.error(ServiceError(code: .badRequest, message: "malformed request: \(malformed)")))
        }
        if request.bodyTooLarge {
            return .response(
                .error(ServiceError(code: .payloadTooLarge, message: "request bodies are limited to 64 KiB")))
        }
        if let allowed {
            let methods = allowed.contains(.get) ? allowed + [.head] : allowed
            guard methods.contains(request.method) else {
                let allow = methods.map(\.rawValue).joined(separator: ", ")
                return .response(
                    .error(
                        ServiceError(code: .methodNotAllowed, message: "allowed methods: \(allow)"),
                        headerFields: [.allow: allow]))
            }
        }
        return next.handle(request)
    }
}
