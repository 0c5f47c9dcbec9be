import HTTPMessages
import HTTPTypes
import KubeconfigBase
import KubeconfigService
import Logging

/// Maps requests to routes. Owns no socket: the HTTP layer calls `respond(to:)` on its own threads.
///
/// Each route is a handler in `Routes/`; the middleware in `Middleware/` wraps every one of
/// them in the same order: request metrics, refusal logging, request checks (400, 413, 405),
/// then, where the route needs them, authorisation and the audit log.
public final class ServiceRouter: HTTPResponder {
    /// Request bodies above this size are refused with 413.
    public static let maxBodyBytes = 64 * 1024

    /// A route: the name metrics use for it, its path, a handler per method, who may call it.
    struct Route: Sendable {
        var name: String
        var path: PathPattern
        /// What answers each method; GET implies HEAD, any other is a 405.
        var methods: [HTTPRequest.Method: any RouteHandler]
        var access: Access
        /// Query parameters that may be given more than once; any other, repeated, is a 400.
        var repeatable: Set<String> = []

        /// Every route states its access: none is open by default.
        init(
            _ name: String, _ path: String, _ methods: [HTTPRequest.Method: any RouteHandler], access: Access,
            repeatable: Set<String> = []
        ) {
            self.name = name
            self.path = PathPattern(path)
            self.methods = methods
            self.access = access
            self.repeatable = repeatable
        }
    }

    /// Who may call a route.
    enum Access: Sendable {
        /// Anyone: what holds no data of the document (the probes, the metrics, the status page).
        case open
        /// Callers allowed `get` (to read) or `patch` (to change) the document's object; audited.
        case reviewed
        /// Callers allowed `create` on `sites/token` of the site the path names; audited.
        case siteToken
    }

    /// Every route, in the order they were declared (tests read who may call what here).
    let routes: [Route]

    /// Routes without parameters, by path: the hot paths cost one lookup.
    private let literal: [String: any RouteHandler]
    /// Routes with parameters, tried in order.
    private let parameterized: [(path: PathPattern, handler: any RouteHandler)]
    private let unknown: any RouteHandler

    /// - Parameters:
    ///   - registry: registers and removes remote sites (`PUT`/`DELETE /sites/{name}`).
    ///   - reviewer: checks callers of `/kubeconfig`, `/status` and `/sites...`; nil turns authorisation off.
    ///   - monitor: the site probes `GET /sites` reports; nil when probes are off.
    ///   - renewer: issues and renews managed sites' tokens; nil without a credentials Secret.
    ///   - metrics: renders `GET /metrics`; nil leaves the route out.
    ///   - siteTokens: mints tokens for callers (`POST /sites/{name}/token`), at most `perMinute`
    ///     per caller and site; nil, or no `reviewer`, leaves the route out: tokens are never
    ///     minted for a caller nobody reviewed.
    ///   - credentialPlugin: how the users of `GET /kubeconfig?site=NAME&credentials=exec` run the
    ///     exec credential plugin; nil refuses that form.
    ///   - sinks: the Secrets written per site (`serve --argocd-secrets`, `--kubeconfig-secrets`),
    ///     which `GET /sites` and `/status` report.
    public init(
        publisher: SitePublisher, registry: SiteRegistry, reviewer: AccessReviewer?, monitor: SiteHealthMonitor? = nil,
        renewer: SiteTokenRenewer? = nil, metrics: (@Sendable () -> String)? = nil,
        siteTokens: (issuer: SiteTokenIssuer, perMinute: Int)? = nil,
        credentialPlugin: KubeconfigDocument.CredentialPlugin? = nil, sinks: [SecretSink] = [],
        centralLabels: [String: String] = [:], logger: Logger
    ) {
        let state = publisher.state
        let list = SitesRoute(
            state: state, location: publisher.configuration.location, monitor: monitor, renewer: renewer, sinks: sinks,
            centralLabels: centralLabels)
        let site = SiteRoute(registry: registry, state: state, list: list, monitor: monitor)
        var routes = [
            Route("livez", "/livez", [.get: LivenessRoute()], access: .open),
            Route("healthz", "/healthz", [.get: ReadinessRoute(state: state)], access: .open),
            Route("readyz", "/readyz", [.get: ReadinessRoute(state: state)], access: .open),
            // The page holds no data: its script reads /sites and /status with the token the user
            // enters, reviewed there.
            Route("page", "/", [.get: StatusPageRoute(page: .embedded())], access: .open),
            Route(
                "kubeconfig", "/kubeconfig", [.get: KubeconfigRoute(state: state, credentialPlugin: credentialPlugin)],
                access: .reviewed),
            Route(
                "status", "/status", [.get: StatusRoute(publisher: publisher, renewer: renewer, sinks: sinks)], access: .reviewed),
            Route("sites", "/sites", [.get: list], access: .reviewed),
            Route(
                "site", "/sites/{name}",
                [
                    .get: HandlerFunction(site.show), .put: HandlerFunction(site.register),
                    .delete: HandlerFunction(site.remove), .post: PublishSiteRoute(publisher: publisher),
                ], access: .reviewed, repeatable: ["audience", "label"]),
        ]
        if let metrics {
            routes.append(Route("metrics", "/metrics", [.get: MetricsRoute(render: metrics)], access: .open))
        }
        if let siteTokens, reviewer != nil {
            let tokens = SiteTokenRoute(
                issuer: siteTokens.issuer, limit: CallerRateLimit(perMinute: siteTokens.perMinute), logger: logger)
            routes.append(Route("site-token", "/sites/{name}/token", [.post: tokens], access: .siteToken))
        }
        func build(_ route: Route, allowing methods: [HTTPRequest.Method]?) -> any RouteHandler {
            var middleware: [any RouteMiddleware] = [
                RequestMetrics(route: route.name), RefusalLog(logger: logger),
                RequestChecks(allowed: methods, repeatable: route.repeatable),
            ]
            switch route.access {
            case .open:
                break
            case .reviewed:
                if let reviewer { middleware.append(Authorization(reviewer: reviewer, logger: logger)) }
                middleware.append(AuditLog(logger: logger))
            case .siteToken:
                if let reviewer {
                    middleware.append(
                        Authorization(reviewer: reviewer, logger: logger) { .siteToken(site: $0.parameters["name", default: ""]) }
                    )
                }
                middleware.append(AuditLog(logger: logger))
            }
            return MethodDispatch(route.methods).wrapped(in: middleware)
        }
        var literal: [String: any RouteHandler] = [:]
        var parameterized: [(path: PathPattern, handler: any RouteHandler)] = []
        for route in routes {
            // In a fixed order, so a 405's `Allow` is the same every time.
            let methods = Self.order.filter { route.methods[$0] != nil }
            let handler = build(route, allowing: methods)
            if route.path.isLiteral {
                literal[route.path.description] = handler
            } else {
                parameterized.append((route.path, handler))
            }
        }
        self.routes = routes
        self.literal = literal
        self.parameterized = parameterized
        unknown = build(Route("unknown", "/", [:], access: .open), allowing: nil)
    }

    /// The order methods are listed in `Allow`.
    private static let order: [HTTPRequest.Method] = [.get, .put, .delete, .post, .patch]

    public func respond(to request: HTTPServerRequest) -> HTTPServerResult {
        if let handler = literal[request.path] { return handler.handle(request) }
        for route in parameterized {
            if let parameters = route.path.match(request.path) {
                var request = request
                request.parameters = parameters
                return route.handler.handle(request)
            }
        }
        return unknown.handle(request)
    }
}

/// A route's handler for each of its methods (HEAD is answered as GET). `RequestChecks` has
/// refused any other method before it gets here.
private struct MethodDispatch: RouteHandler {
    let methods: [HTTPRequest.Method: any RouteHandler]

    init(_ methods: [HTTPRequest.Method: any RouteHandler]) { self.methods = methods }

    func handle(_ request: HTTPServerRequest) -> HTTPServerResult {
        let method = request.method == .head ? .get : request.method
        guard let handler = methods[method] else { return UnknownRoute().handle(request) }
        return handler.handle(request)
    }
}

/// A function as a route handler: one method of a route that answers several.
struct HandlerFunction: RouteHandler {
    let respond: @Sendable (HTTPServerRequest) -> HTTPServerResult

    init(_ respond: @escaping @Sendable (HTTPServerRequest) -> HTTPServerResult) { self.respond = respond }

    func handle(_ request: HTTPServerRequest) -> HTTPServerResult { respond(request) }
}

/// Every path that names no route: 404.
struct UnknownRoute: RouteHandler {
    func handle(_ request: HTTPServerRequest) -> HTTPServerResult {
        .response(
            .error(ServiceError(code: .notFound, message: "no route for \(request.path.printable)")))
    }
}
