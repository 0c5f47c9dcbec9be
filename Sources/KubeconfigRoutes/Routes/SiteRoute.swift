import FoundationEssentials
import HTTPMessages
import HTTPTypes
import KubeconfigBase
import KubeconfigService

/// `/sites/{name}`: `GET` one site, `PUT` registers or replaces a remote site (JSON, or a
/// kubeconfig as YAML), `DELETE` removes it. (`POST` publishes this service's own location:
/// `PublishSiteRoute`.)
struct SiteRoute: Sendable {
    let registry: SiteRegistry
    let state: PublicationState
    let list: SitesRoute
    let monitor: SiteHealthMonitor?

    @Sendable func show(_ request: HTTPServerRequest) -> HTTPServerResult {
        let name = request.parameters["name", default: ""]
        guard let published = state.published else {
            return .response(.error(ServiceError(code: .notPublished, message: "no document has been read yet")))
        }
        guard let summary = published.document.siteSummary(named: name, location: registry.location) else {
            return .response(.error(Self.notFound(name)))
        }
        return .response(.json(.ok, JSONBody.encode(list.view(summary, published))))
    }

    @Sendable func register(_ request: HTTPServerRequest) -> HTTPServerResult {
        let name = request.parameters["name", default: ""]
        let site: SiteRegistration
        let requireHealthy: Bool
        do throws(ServiceError) {
            requireHealthy = try Self.requiresHealthy(request.query)
            site = try Self.registration(name, request)
        } catch {
            return .response(.error(error))
        }
        return .deferred { [registry, monitor, list, state] in
            do throws(ServiceError) {
                let registration = try await registry.register(site, requireHealthy: requireHealthy)
                if registration.changed, let monitor {
                    // Health right after registering, not a probe interval later: the probe made
                    // before writing, or (a managed site) one now.
                    if let health = registration.health, let endpoint = site.endpoint {
                        monitor.registered(name, endpoint: endpoint, health: health)
                    } else {
                        monitor.probe(site: name)
                    }
                }
                // The site as GET shows it (how its token is kept included), with the health of
                // the probe made before writing it (none for a managed site).
                struct Body: Encodable {
                    var site: SitesRoute.SiteView
                    var created, changed: Bool
                    var resourceVersion: String
                    var warnings: [String]?
                }
                var view = SitesRoute.SiteView(summary: registration.site)
                if let published = state.published { view = list.view(registration.site, published) }
                view.health = registration.health
                let body = Body(
                    site: view, created: registration.created, changed: registration.changed,
                    resourceVersion: registration.resourceVersion,
                    warnings: registration.warnings.isEmpty ? nil : registration.warnings)
                return .json(registration.created ? .created : .ok, JSONBody.encode(body))
            } catch {
                return .error(error)
            }
        }
    }

    @Sendable func remove(_ request: HTTPServerRequest) -> HTTPServerResult {
        let name = request.parameters["name", default: ""]
        return .deferred { [registry, monitor] in
            do throws(ServiceError) {
                let removal = try await registry.remove(name)
                monitor?.siteRemoved(name)
                return .json(.ok, JSONBody.encode(removal))
            } catch {
                return .error(error.code == .siteNotFound ? Self.notFound(name) : error)
            }
        }
    }

    /// The body as the content type says: JSON (the default) or a kubeconfig in YAML. (Two
    /// `Content-Type`s never get here: `RequestChecks` refuses them.)
    static func registration(_ name: String, _ request: HTTPServerRequest) throws(ServiceError) -> SiteRegistration {
        let mediaType = request.header(.contentType).map(mediaType) ?? "application/json"
        let query = request.query.filter { $0.name != "verify" }
        switch mediaType {
        case "application/json":
            if let parameter = query.first {
                throw ServiceError(
                    code: .invalidSite,
                    message: "\(parameter.name.printable): a JSON registration takes no query parameters but verify")
            }
            return try SiteRegistration(name: name, json: request.body)
        case "application/yaml", "application/x-yaml", "text/yaml":
            guard let text = String(validating: request.body, as: UTF8.self) else {
                throw ServiceError(code: .invalidSite, message: "body: is not UTF-8")
            }
            var registration = try SiteRegistration(
                name: name, kubeconfig: text, tokenRequest: try tokenRequest(query.filter { $0.name != "label" }))
            registration.labels = try labels(query)
            return registration
        case "application/x-www-form-urlencoded":
            throw ServiceError(
                code: .unsupportedMediaType,
                message: "Content-Type must be application/json or application/yaml (a kubeconfig); curl -d and "
                    + "--data-binary send application/x-www-form-urlencoded unless told: send a kubeconfig file with "
                    + "-H 'Content-Type: application/yaml' --data-binary @FILE")
        default:
            throw ServiceError(
                code: .unsupportedMediaType,
                message: "Content-Type must be application/json or application/yaml (a kubeconfig)")
        }
    }

    /// `?verify=true`: refuse to write a site whose probe fails (default false: write it, and warn).
    static func requiresHealthy(_ query: [(name: String, value: String)]) throws(ServiceError) -> Bool {
        switch query.filter({ $0.name == "verify" }).map(\.value) {
        case []: return false
        case ["true"]: return true
        case ["false"]: return false
        default: throw ServiceError(code: .invalidSite, message: "verify: must be true or false, given once")
        }
    }

    /// With a kubeconfig, `?serviceAccount=NAME[&namespace=NS][&expirationSeconds=N][&audience=A...]`
    /// asks for the site's token to be issued here, its user's token being the bootstrap credential.
    static func tokenRequest(
        _ query: [(name: String, value: String)]
    ) throws(ServiceError) -> (serviceAccount: String, namespace: String?, expirationSeconds: Int?, audiences: [String])? {
        // `verify` is read by `requiresHealthy` (and filtered out before); it is listed for the message.
        let known: Set<String> = ["serviceAccount", "namespace", "expirationSeconds", "audience", "verify", "label"]
        if let unknown = query.first(where: { !known.contains($0.name) }) {
            throw ServiceError(
                code: .invalidSite,
                message: "\(unknown.name.printable): unknown query parameter; known: "
                    + known.sorted().joined(separator: ", "))
        }
        func single(_ name: String) throws(ServiceError) -> String? {
            let values = query.filter { $0.name == name }
            guard values.count <= 1 else {
                throw ServiceError(code: .invalidSite, message: "\(name): given more than once")
            }
            return values.first?.value
        }
        guard let serviceAccount = try single("serviceAccount") else {
            guard query.isEmpty else {
                throw ServiceError(code: .invalidSite, message: "serviceAccount: is required with the other parameters")
            }
            return nil
        }
        var expirationSeconds: Int?
        if let text = try single("expirationSeconds") {
            guard let seconds = Int(text) else {
                throw ServiceError(code: .invalidSite, message: "expirationSeconds: must be a whole number of seconds")
            }
            expirationSeconds = seconds
        }
        return (
            serviceAccount, try single("namespace"), expirationSeconds, query.filter { $0.name == "audience" }.map(\.value)
        )
    }

    /// With a kubeconfig, `?label=KEY=VALUE`, once per label: the site's labels.
    static func labels(_ query: [(name: String, value: String)]) throws(ServiceError) -> [String: String] {
        var labels: [String: String] = [:]
        for parameter in query where parameter.name == "label" {
            guard let equals = parameter.value.firstIndex(of: "=") else {
                throw ServiceError(code: .invalidSite, message: "label: must be KEY=VALUE")
            }
            let key = String(parameter.value[..<equals])
            guard labels[key] == nil else {
                throw ServiceError(code: .invalidSite, message: "label: \(key.printable) is given more than once")
            }
            labels[key] = String(parameter.value[parameter.value.index(after: equals)...])
        }
        try SiteLabels.check(labels, field: "label")
        return labels
    }

    /// `application/yaml; charset=utf-8` → `application/yaml`.
    private static func mediaType(_ value: String) -> String {
        value.prefix { $0 != ";" }.trimmingWhitespace().lowercased()
    }

    private static func notFound(_ name: String) -> ServiceError {
        ServiceError(code: .siteNotFound, message: "no site named \(name.printable) in the document")
    }
}
