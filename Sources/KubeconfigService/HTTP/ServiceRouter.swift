import HTTPMessages
import HTTPTypes
import KubernetesAPI
import Logging

/// Maps requests to routes. Owns no socket: the HTTP layer calls `respond(to:)` on its own threads.
///
/// Each route is a handler in `Routes/`; the middleware in `Middleware/` wraps every one of
/// them in the same order: request metrics, refusal logging, request checks (400, 413, 405),
/// then authorisation where the route needs it.
public final class ServiceRouter: HTTPResponder {
    /// Request bodies above this size are refused with 413.
    public static let maxBodyBytes = 64 * 1024

    /// A route: the name metrics use for it, the methods it takes, who may call it, its handler.
    struct Route: Sendable {
        var name: String
        /// Methods it answers; GET implies HEAD.
        var methods: [HTTPRequest.Method]
        /// What the caller must be allowed on the document's ConfigMap; nil for open routes.
        var access: AccessReviewer.Verb?
        var handler: any RouteHandler
    }

    private let exact: [String: any RouteHandler]
    private let sites: any RouteHandler
    private let unknown: any RouteHandler

    /// - Parameters:
    ///   - reviewer: checks callers of `/kubeconfig`, `/status` and `/sites/...`; nil turns authorisation off.
    ///   - metrics: renders `GET /metrics`; nil leaves the route out.
    public init(
        publisher: SitePublisher, reviewer: AccessReviewer?, metrics: (@Sendable () -> String)? = nil, logger: Logger
    ) {
        var routes: [String: Route] = [
            "/livez": Route(name: "livez", methods: [.get], handler: LivenessRoute()),
            "/healthz": Route(name: "healthz", methods: [.get], handler: ReadinessRoute(state: publisher.state)),
            "/readyz": Route(name: "readyz", methods: [.get], handler: ReadinessRoute(state: publisher.state)),
            "/kubeconfig": Route(
                name: "kubeconfig", methods: [.get], access: .get, handler: KubeconfigRoute(state: publisher.state)),
            "/status": Route(name: "status", methods: [.get], access: .get, handler: StatusRoute(publisher: publisher)),
        ]
        if let metrics {
            routes["/metrics"] = Route(name: "metrics", methods: [.get], handler: MetricsRoute(render: metrics))
        }
        func build(_ route: Route) -> any RouteHandler {
            var middleware: [any RouteMiddleware] = [
                RequestMetrics(route: route.name), RefusalLog(logger: logger),
                RequestChecks(allowed: route.methods.isEmpty ? nil : route.methods),
            ]
            if let verb = route.access, let reviewer {
                middleware.append(Authorization(reviewer: reviewer, verb: verb, logger: logger))
            }
            return route.handler.wrapped(in: middleware)
        }
        exact = routes.mapValues(build)
        sites = build(
            Route(name: "sites", methods: [.post], access: .patch, handler: PublishSiteRoute(publisher: publisher)))
        unknown = build(Route(name: "unknown", methods: [], handler: UnknownRoute()))
    }

    public func respond(to request: HTTPServerRequest) -> HTTPServerResult {
        handler(for: request.path).handle(request)
    }

    private func handler(for path: String) -> any RouteHandler {
        if let handler = exact[path] { return handler }
        // `/sites/{location}`: one non-empty segment after it.
        let segments = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        if segments.count == 3, segments[0].isEmpty, segments[1].elementsEqual("sites".utf8), !segments[2].isEmpty {
            return sites
        }
        return unknown
    }
}

/// Every path that names no route: 404.
struct UnknownRoute: RouteHandler {
    func handle(_ request: HTTPServerRequest) -> HTTPServerResult {
        .response(
            .error(ServiceError(code: .notFound, message: "no route for \(HTTPServerRequest.printable(request.path))")))
    }
}
