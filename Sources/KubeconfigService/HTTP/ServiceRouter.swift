import HTTPMessages
import HTTPTypes
import KubeconfigBase
import Logging

/// Maps requests to routes. Owns no socket: the HTTP layer calls `respond(to:)` on its own threads.
///
/// Each route is a handler in `Routes/`; the middleware in `Middleware/` wraps every one of
/// them in the same order: request metrics, refusal logging, request checks (400, 413, 405),
/// then, where the route needs them, authorisation and the audit log.
public final class ServiceRouter: HTTPResponder {
    /// Request bodies above this size are refused with 413.
    public static let maxBodyBytes = 64 * 1024

    /// A route: the name metrics use for it, the methods it takes, whether callers need access,
    /// its handler.
    struct Route: Sendable {
        var name: String
        /// Methods it answers; GET implies HEAD.
        var methods: [HTTPRequest.Method]
        /// Callers must be allowed `get` (to read) or `patch` (to change) the document's object.
        var protected = false
        /// Query parameters that may be given more than once; any other, repeated, is a 400.
        var repeatable: Set<String> = []
        var handler: any RouteHandler
    }

    private let exact: [String: any RouteHandler]
    private let site: any RouteHandler
    private let unknown: any RouteHandler

    /// - Parameters:
    ///   - reviewer: checks callers of `/kubeconfig`, `/status` and `/sites...`; nil turns authorisation off.
    ///   - monitor: the site probes `GET /sites` reports; nil when probes are off.
    ///   - renewer: issues and renews managed sites' tokens; nil without a credentials Secret.
    ///   - metrics: renders `GET /metrics`; nil leaves the route out.
    public init(
        publisher: SitePublisher, reviewer: AccessReviewer?, monitor: SiteHealthMonitor? = nil,
        renewer: SiteTokenRenewer? = nil, metrics: (@Sendable () -> String)? = nil, logger: Logger
    ) {
        let state = publisher.state
        let location = publisher.configuration.location
        let list = SitesRoute(state: state, location: location, monitor: monitor, renewer: renewer)
        var routes: [String: Route] = [
            "/livez": Route(name: "livez", methods: [.get], handler: LivenessRoute()),
            "/healthz": Route(name: "healthz", methods: [.get], handler: ReadinessRoute(state: state)),
            "/readyz": Route(name: "readyz", methods: [.get], handler: ReadinessRoute(state: state)),
            "/kubeconfig": Route(
                name: "kubeconfig", methods: [.get], protected: true, handler: KubeconfigRoute(state: state)),
            "/status": Route(
                name: "status", methods: [.get], protected: true, handler: StatusRoute(publisher: publisher, renewer: renewer)),
            "/sites": Route(name: "sites", methods: [.get], protected: true, handler: list),
        ]
        if let metrics {
            routes["/metrics"] = Route(name: "metrics", methods: [.get], handler: MetricsRoute(render: metrics))
        }
        func build(_ route: Route) -> any RouteHandler {
            var middleware: [any RouteMiddleware] = [
                RequestMetrics(route: route.name), RefusalLog(logger: logger),
                RequestChecks(allowed: route.methods.isEmpty ? nil : route.methods, repeatable: route.repeatable),
            ]
            if route.protected {
                if let reviewer { middleware.append(Authorization(reviewer: reviewer, logger: logger)) }
                middleware.append(AuditLog(logger: logger))
            }
            return route.handler.wrapped(in: middleware)
        }
        exact = routes.mapValues(build)
        site = build(
            Route(
                name: "site", methods: [.get, .put, .delete, .post], protected: true, repeatable: ["audience"],
                handler: SiteRoute(
                    registry: SiteRegistry(publisher: publisher, renewer: renewer), state: state, list: list,
                    monitor: monitor, publish: PublishSiteRoute(publisher: publisher))))
        unknown = build(Route(name: "unknown", methods: [], handler: UnknownRoute()))
    }

    public func respond(to request: HTTPServerRequest) -> HTTPServerResult {
        handler(for: request.path).handle(request)
    }

    private func handler(for path: String) -> any RouteHandler {
        if let handler = exact[path] { return handler }
        // `/sites/{name}`: one non-empty segment after it.
        let segments = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        if segments.count == 3, segments[0].isEmpty, segments[1].elementsEqual("sites".utf8), !segments[2].isEmpty {
            return site
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
