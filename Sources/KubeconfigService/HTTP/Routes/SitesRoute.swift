import Foundation
import HTTPMessages
import KubernetesAPI

/// `GET /sites`: every context of the served document, with what the last probe found.
struct SitesRoute: RouteHandler {
    let state: PublicationState
    let location: String
    let monitor: SiteHealthMonitor?

    /// A site as the API shows it: the summary's fields, then its health.
    struct SiteView: Encodable {
        var summary: SiteSummary
        var health: SiteHealth?

        func encode(to encoder: any Encoder) throws {
            try summary.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(health, forKey: .health)
        }

        enum CodingKeys: String, CodingKey { case health }
    }

    func handle(_ request: HTTPServerRequest) -> HTTPServerResult {
        guard let document = state.published?.document else {
            return .response(.error(ServiceError(code: .notPublished, message: "no document has been read yet")))
        }
        let sites = document.siteSummaries(location: location).map { Self.view($0, document: document, monitor: monitor) }
        struct Body: Encodable { var sites: [SiteView] }
        return .response(.json(.ok, JSONBody.encode(Body(sites: sites))))
    }

    static func view(_ summary: SiteSummary, document: KubeconfigDocument, monitor: SiteHealthMonitor?) -> SiteView {
        SiteView(summary: summary, health: monitor?.health(of: summary.name, in: document))
    }
}
