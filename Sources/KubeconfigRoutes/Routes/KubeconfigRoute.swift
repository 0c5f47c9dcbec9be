import FoundationEssentials
import HTTPMessages
import HTTPTypes
import KubeconfigBase
import KubeconfigService

/// `GET /kubeconfig`: the document as last published, YAML or JSON by `Accept`, with an ETag;
/// `?site=NAME` only that site; `?site=NAME&credentials=exec` that site with no secret in it, its
/// user running the exec credential plugin against the service (`credentialPlugin`).
struct KubeconfigRoute: RouteHandler {
    let state: PublicationState
    /// How an exec user runs the plugin; nil: `credentials=exec` is refused (no public URL).
    var credentialPlugin: KubeconfigDocument.CredentialPlugin? = nil

    func handle(_ request: HTTPServerRequest) -> HTTPServerResult {
        .response(respond(request))
    }

    private func respond(_ request: HTTPServerRequest) -> HTTPServerResponse {
        guard let published = state.published else {
            return .error(ServiceError(code: .notPublished, message: "nothing has been published yet"))
        }
        let wantsJSON = Self.prefersJSON(request.header(.accept))
        if let credentials = request.queryValue("credentials") {
            return execKubeconfig(request, published, credentials: credentials, json: wantsJSON)
        }
        if let site = request.queryValue("site") {
            guard !site.isEmpty else {
                return .error(ServiceError(code: .badRequest, message: "the site query parameter needs a value"))
            }
            guard let rendered = published.site(named: site) else {
                return .error(
                    ServiceError(
                        code: .siteNotFound,
                        message: "no context named \(site.printable) in the published kubeconfig"))
            }
            return Self.document(
                wantsJSON ? rendered.json : rendered.yaml, json: wantsJSON,
                etag: wantsJSON ? rendered.jsonETag : rendered.yamlETag, request: request)
        }
        return Self.document(
            wantsJSON ? published.json : published.yaml, json: wantsJSON,
            etag: wantsJSON ? published.jsonETag : published.yamlETag, request: request)
    }

    /// `?site=NAME&credentials=exec`: the site with an exec user, rendered per request.
    private func execKubeconfig(
        _ request: HTTPServerRequest, _ published: PublishedDocument, credentials: String, json: Bool
    ) -> HTTPServerResponse {
        guard credentials == "exec" else {
            return .error(ServiceError(code: .badRequest, message: "credentials: the one value is exec"))
        }
        guard let site = request.queryValue("site"), !site.isEmpty else {
            return .error(ServiceError(code: .badRequest, message: "credentials=exec needs site=NAME: one site's kubeconfig"))
        }
        guard let credentialPlugin else {
            return .error(
                ServiceError(
                    code: .badRequest,
                    message: "credentials=exec needs the service's public URL, which its users' plugin reaches it at "
                        + "(serve --public-url)"))
        }
        guard let document = published.document.site(named: site, credentialPlugin: credentialPlugin) else {
            return .error(
                ServiceError(code: .siteNotFound, message: "no context named \(site.printable) in the published kubeconfig"))
        }
        return Self.document(Array((json ? document.json() : document.yaml()).utf8), json: json, etag: nil)
    }

    /// The document with its entity tag, or 304 when the caller already holds it.
    private static func document(
        _ body: [UInt8], json: Bool, etag: String, request: HTTPServerRequest
    )
        -> HTTPServerResponse
    {
        if let match = request.header(.ifNoneMatch), etagMatches(match, etag) {
            return HTTPServerResponse(status: .notModified, headerFields: [.eTag: etag, .cacheControl: "no-store"])
        }
        return document(body, json: json, etag: etag)
    }

    private static func document(_ body: [UInt8], json: Bool, etag: String?) -> HTTPServerResponse {
        var fields = json ? jsonFields : yamlFields
        if let etag { fields.append(HTTPField(name: .eTag, value: etag)) }
        return HTTPServerResponse(status: .ok, headerFields: fields, body: body)
    }

    /// The fields every document answer carries, made once.
    private static let yamlFields = fields(contentType: "application/yaml")
    private static let jsonFields = fields(contentType: "application/json")

    private static func fields(contentType: String) -> HTTPFields {
        [
            .contentType: contentType,
            // The document carries a credential: no shared cache may keep it.
            .cacheControl: "no-store",
            .vary: "Accept, Authorization",
        ]
    }

    // MARK: - Negotiation

    static func prefersJSON(_ accept: String?) -> Bool {
        guard let accept else { return false }
        var best: (json: Bool, q: Double)? = nil
        for item in accept.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingWhitespace().lowercased() }
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
            let trimmed = tag.trimmingWhitespace()
            return trimmed == "*" || trimmed == etag || trimmed == "W/" + etag
        }
    }
}
