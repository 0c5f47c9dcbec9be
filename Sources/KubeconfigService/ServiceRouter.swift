import Foundation
import Logging
import Metrics

/// Maps requests to the service's behaviour. Owns no socket: the HTTP layer calls `route(_:)`
/// on its own threads, and anything that must wait for the API server comes back `.deferred`.
public final class ServiceRouter: Sendable {
    /// Requests bodies above this size are refused with 413.
    public static let maxBodyBytes = 64 * 1024

    private let publisher: SitePublisher
    private let reviewer: AccessReviewer?
    private let metrics: (@Sendable () -> String)?
    private let logger: Logger
    private let requestCounters: [Route: [Int: Counter]]

    /// - Parameters:
    ///   - reviewer: checks callers of `/kubeconfig`, `/status` and `/sites/...`; nil turns authorisation off.
    ///   - metrics: renders `GET /metrics`; nil leaves the route out.
    public init(
        publisher: SitePublisher, reviewer: AccessReviewer?, metrics: (@Sendable () -> String)? = nil, logger: Logger
    ) {
        self.publisher = publisher
        self.reviewer = reviewer
        self.metrics = metrics
        self.logger = logger
        self.requestCounters = Self.makeRequestCounters()
    }

    private var location: String { publisher.configuration.location }

    // MARK: - Routing

    /// The routes, by the name metrics use for them.
    enum Route: String, CaseIterable {
        case livez, healthz, readyz, kubeconfig, status, metrics, sites, unknown
    }

    static func route(for path: String) -> Route {
        switch path {
        case "": return .unknown
        case "/livez": return .livez
        case "/healthz": return .healthz
        case "/readyz": return .readyz
        case "/kubeconfig": return .kubeconfig
        case "/status": return .status
        case "/metrics": return .metrics
        default:
            let segments = path.split(separator: "/", omittingEmptySubsequences: false)
            if segments.count == 3, segments[0].isEmpty, segments[1] == "sites", !segments[2].isEmpty { return .sites }
            return .unknown
        }
    }

    public func route(_ request: ServiceRequest) -> RouteResult {
        let route = Self.route(for: request.path)
        let result = dispatch(route, request)
        switch result {
        case .response(let response):
            count(route, response.status)
            if [400, 405, 413].contains(response.status) {
                logger.info(
                    "request refused",
                    metadata: [
                        "method": "\(Self.printable(request.method))", "path": "\(Self.printable(request.path))",
                        "status": "\(response.status)",
                    ])
            }
            return .response(response)
        case .deferred(let work):
            return .deferred { [self] in
                let response = await work()
                count(route, response.status)
                return response
            }
        }
    }

    private func count(_ route: Route, _ status: Int) {
        if let counter = requestCounters[route]?[status] {
            counter.increment()
        } else {
            Self.requestCounter(route, status).increment()
        }
    }

    private static func requestCounter(_ route: Route, _ status: Int) -> Counter {
        Counter(label: "kubeconfig_http_requests_total", dimensions: [("route", route.rawValue), ("status", String(status))])
    }

    /// Counters for the statuses routes answer, made once: looking one up by label on every
    /// request would take the metrics factory's lock and allocate.
    private static func makeRequestCounters() -> [Route: [Int: Counter]] {
        let statuses = [200, 304, 400, 401, 403, 404, 405, 409, 413, 500, 502, 503, 504]
        var counters: [Route: [Int: Counter]] = [:]
        for route in Route.allCases {
            counters[route] = Dictionary(uniqueKeysWithValues: statuses.map { ($0, requestCounter(route, $0)) })
        }
        return counters
    }

    private func dispatch(_ route: Route, _ request: ServiceRequest) -> RouteResult {
        let isRead = request.method == "GET" || request.method == "HEAD"
        if let malformed = request.malformed {
            return .response(.error(ServiceError(code: .badRequest, message: "malformed request: \(malformed)")))
        }
        if request.bodyTooLarge {
            return .response(.error(ServiceError(code: .payloadTooLarge, message: "request bodies are limited to 64 KiB")))
        }
        switch route {
        case .unknown:
            return .response(.error(ServiceError(code: .notFound, message: "no route for \(Self.printable(request.path))")))
        case .metrics where metrics == nil:
            return .response(.error(ServiceError(code: .notFound, message: "no route for /metrics")))
        case .sites:
            guard request.method == "POST" else { return .response(methodNotAllowed(allow: "POST")) }
            return publishSite(request)
        default:
            guard isRead else { return .response(methodNotAllowed(allow: "GET, HEAD")) }
        }
        switch route {
        case .livez:
            return .response(.text(200, "ok\n"))
        case .healthz, .readyz:
            return .response(readiness())
        case .metrics:
            return .response(
                ServiceResponse(
                    status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                    body: Array((metrics?() ?? "").utf8)))
        case .kubeconfig:
            return authorized(request, verb: .get) { .response(self.kubeconfig(request)) }
        case .status:
            return authorized(request, verb: .get) { .response(self.status()) }
        case .sites, .unknown:
            preconditionFailure("handled above")
        }
    }

    private func methodNotAllowed(allow: String) -> ServiceResponse {
        .error(ServiceError(code: .methodNotAllowed, message: "allowed methods: \(allow)"), headers: [("Allow", allow)])
    }

    /// Paths are attacker-chosen: keep error messages short and printable.
    static func printable(_ path: String) -> String {
        let cleaned = String(
            String.UnicodeScalarView(path.unicodeScalars.map { $0.properties.isWhitespace || $0.value < 0x20 ? "?" : $0 }))
        return cleaned.count > 128 ? String(cleaned.prefix(128)) + "..." : cleaned
    }

    // MARK: - Probes

    private func readiness() -> ServiceResponse {
        let snapshot = publisher.state.snapshot
        if snapshot.lastSuccess != nil { return .text(200, "ok\n") }
        let reason =
            snapshot.lastError.map { "no publication has succeeded yet; last error: \($0.message)" }
            ?? "no publication has succeeded yet"
        return .error(ServiceError(code: .notPublished, message: reason))
    }

    // MARK: - Documents

    private func kubeconfig(_ request: ServiceRequest) -> ServiceResponse {
        guard let published = publisher.state.published else {
            return .error(ServiceError(code: .notPublished, message: "nothing has been published yet"))
        }
        let wantsJSON = Self.prefersJSON(request.header("Accept"))
        if let site = request.queryValue("site") {
            guard !site.isEmpty else {
                return .error(ServiceError(code: .badRequest, message: "the site query parameter needs a value"))
            }
            guard let document = published.document.site(named: site) else {
                return .error(
                    ServiceError(
                        code: .siteNotFound, message: "no context named \(Self.printable(site)) in the published kubeconfig"))
            }
            return documentResponse(
                wantsJSON ? Array(document.json().utf8) : Array(document.yaml().utf8), json: wantsJSON, etag: nil)
        }
        let etag = wantsJSON ? published.jsonETag : published.yamlETag
        if let match = request.header("If-None-Match"), Self.etagMatches(match, etag) {
            return ServiceResponse(status: 304, headers: [("ETag", etag), ("Cache-Control", "no-store")])
        }
        return documentResponse(wantsJSON ? published.json : published.yaml, json: wantsJSON, etag: etag)
    }

    private func documentResponse(_ body: [UInt8], json: Bool, etag: String?) -> ServiceResponse {
        var headers: [(name: String, value: String)] = [
            ("Content-Type", json ? "application/json" : "application/yaml"),
            // The document carries a credential: no shared cache may keep it.
            ("Cache-Control", "no-store"),
            ("Vary", "Accept, Authorization"),
        ]
        if let etag { headers.append(("ETag", etag)) }
        return ServiceResponse(status: 200, headers: headers, body: body)
    }

    static func prefersJSON(_ accept: String?) -> Bool {
        guard let accept else { return false }
        var best: (json: Bool, q: Double)? = nil
        for item in accept.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let type = parts.first else { continue }
            let q = parts.dropFirst().compactMap { $0.hasPrefix("q=") ? Double($0.dropFirst(2)) : nil }.first ?? 1
            let isJSON: Bool
            switch type {
            case "application/json": isJSON = true
            case "application/yaml", "application/x-yaml", "text/yaml", "*/*", "application/*", "text/*": isJSON = false
            default: continue
            }
            if q > 0, best == nil || q > best!.q || (q == best!.q && !isJSON && best!.json) { best = (isJSON, q) }
        }
        return best?.json ?? false
    }

    static func etagMatches(_ header: String, _ etag: String) -> Bool {
        header.split(separator: ",").contains { tag in
            let trimmed = tag.trimmingCharacters(in: .whitespaces)
            return trimmed == "*" || trimmed == etag || trimmed == "W/" + etag
        }
    }

    private func status() -> ServiceResponse {
        let snapshot = publisher.state.snapshot
        let configuration = publisher.configuration
        struct Body: Encodable {
            struct LastError: Encodable {
                var code: String
                var message: String
            }
            var location, namespace, configMap, key: String
            var server: String?
            var lastAttempt, lastSuccess, nextRefresh: Date?
            var lastError: LastError?
            var resourceVersion: String?
            var tokenFingerprint: String?
        }
        let body = Body(
            location: configuration.location, namespace: configuration.namespace, configMap: configuration.configMapName,
            key: configuration.key, server: snapshot.server, lastAttempt: snapshot.lastAttempt,
            lastSuccess: snapshot.lastSuccess, nextRefresh: snapshot.nextRefresh,
            lastError: snapshot.lastError.map { .init(code: $0.code.rawValue, message: $0.message) },
            resourceVersion: snapshot.published?.resourceVersion, tokenFingerprint: snapshot.tokenFingerprint)
        return .json(200, Self.encode(body))
    }

    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return Array((try? encoder.encode(value)) ?? Data("{}".utf8)) + [UInt8(ascii: "\n")]
    }

    // MARK: - Publishing

    private func publishSite(_ request: ServiceRequest) -> RouteResult {
        let site = String(request.path.dropFirst("/sites/".count))
        guard site == location else {
            return .response(
                .error(
                    ServiceError(
                        code: .siteNotFound,
                        message: "this service publishes site \(location), not \(Self.printable(site))")))
        }
        if !request.body.isEmpty {
            let parsed = try? JSONSerialization.jsonObject(with: Data(request.body))
            guard parsed is [String: Any] else {
                return .response(.error(ServiceError(code: .badRequest, message: "a request body must be a JSON object")))
            }
        }
        return authorized(request, verb: .patch) {
            .deferred { [publisher = self.publisher] in
                do throws(ServiceError) {
                    return .json(200, Self.encode(try await publisher.publish()))
                } catch {
                    return .error(error)
                }
            }
        }
    }

    // MARK: - Authorisation

    /// Runs `next` when the caller may `verb` the ConfigMap; answers 401/403 otherwise.
    private func authorized(
        _ request: ServiceRequest, verb: AccessReviewer.Verb, _ next: @escaping @Sendable () -> RouteResult
    )
        -> RouteResult
    {
        guard let reviewer else { return next() }
        guard let token = Self.bearerToken(request.header("Authorization")) else {
            return .response(refused(request, .unauthenticated(reason: "a bearer token is required")))
        }
        if let decision = reviewer.cachedDecision(for: token, verb: verb) {
            if case .allowed = decision { return next() }
            return .response(refused(request, decision))
        }
        return .deferred { [self] in
            let decision: AccessReviewer.Decision
            do throws(ServiceError) {
                decision = try await reviewer.review(token, verb: verb)
            } catch {
                logger.warning("could not review a caller's access", metadata: ["error": "\(error)"])
                return .error(error)
            }
            guard case .allowed = decision else { return refused(request, decision) }
            switch next() {
            case .response(let response): return response
            case .deferred(let work): return await work()
            }
        }
    }

    private func refused(_ request: ServiceRequest, _ decision: AccessReviewer.Decision) -> ServiceResponse {
        let response: ServiceResponse
        switch decision {
        case .allowed:
            preconditionFailure("an allowed request is not refused")
        case .unauthenticated(let reason):
            response = .error(
                ServiceError(code: .unauthorized, message: reason),
                headers: [("WWW-Authenticate", "Bearer realm=\"kubeconfig-service\"")])
        case .denied(_, let reason):
            response = .error(ServiceError(code: .forbidden, message: "forbidden: \(reason)"))
        }
        logger.info(
            "request refused",
            metadata: [
                "method": "\(Self.printable(request.method))", "path": "\(Self.printable(request.path))",
                "status": "\(response.status)", "decision": "\(decision.label)",
            ])
        return response
    }

    static func bearerToken(_ header: String?) -> BearerToken? {
        guard let header else { return nil }
        // "Bearer" (any case), one or more spaces, the token: parsed on the bytes, without copies.
        let bytes = header.utf8
        let scheme = "bearer".utf8
        guard bytes.count > scheme.count,
            bytes.prefix(scheme.count).elementsEqual(scheme, by: { $0 | 0x20 == $1 }),
            bytes.dropFirst(scheme.count).first == UInt8(ascii: " ")
        else { return nil }
        var token = Substring(bytes.dropFirst(scheme.count).drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
        while token.last == " " || token.last == "\t" { token.removeLast() }
        return token.isEmpty ? nil : BearerToken(String(token))
    }
}
