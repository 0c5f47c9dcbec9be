import HTTPMessages
import HTTPTypes
import KubeconfigBase
import KubeconfigService

/// One route's behaviour: answers a request that reached it through the route's middleware.
///
/// Called on the HTTP server's threads: it must not block. Anything that waits for the API
/// server comes back `.deferred`.
public protocol RouteHandler: Sendable {
    func handle(_ request: HTTPServerRequest) -> HTTPServerResult
}

/// What wraps handlers, once for every route: request metrics, refusal logging, request
/// checks, authorisation (hummingbird's middleware, kube-rbac-proxy's filters).
public protocol RouteMiddleware: Sendable {
    func handle(_ request: HTTPServerRequest, next: any RouteHandler) -> HTTPServerResult
}

extension RouteHandler {
    /// This handler with `middleware` around it; the first runs first.
    func wrapped(in middleware: [any RouteMiddleware]) -> any RouteHandler {
        middleware.reversed().reduce(self as any RouteHandler) { next, outer in Wrapped(middleware: outer, next: next) }
    }
}

/// A middleware bound to what it wraps: the chain is built once, not per request.
private struct Wrapped: RouteHandler {
    let middleware: any RouteMiddleware
    let next: any RouteHandler

    func handle(_ request: HTTPServerRequest) -> HTTPServerResult { middleware.handle(request, next: next) }
}
