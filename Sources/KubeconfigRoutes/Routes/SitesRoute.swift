import FoundationEssentials
import HTTPMessages
import HTTPTypes
import KubeconfigBase
import KubeconfigService

/// `GET /sites`: every context of the served document, with what the last probe found.
struct SitesRoute: RouteHandler {
    let state: PublicationState
    let location: String
    let monitor: SiteHealthMonitor?
    let renewer: SiteTokenRenewer?
    /// The sinks whose Secret of each site is reported.
    var sinks: [SecretSink] = []
    /// `serve --site-label`: the labels of the site this service publishes.
    var centralLabels: [String: String] = [:]

    /// A site as the API shows it: the summary's fields, how its token is kept, then its health.
    struct SiteView: Encodable {
        var summary: SiteSummary
        /// `managed` (issued and renewed here) or `static` (pasted); absent without a token.
        var tokenManagement: String?
        var tokenRenewsAt: Date?
        var renewalError: ReportedError?
        /// When a managed site's bootstrap credential expires, if it says.
        var bootstrapExpiresAt: Date?
        /// `managed` (a service-account token renewed here) or `static`.
        var bootstrapManagement: String?
        var bootstrapRenewsAt: Date?
        var bootstrapRenewalError: ReportedError?
        var health: SiteHealth?
        /// The site's labels (its registration's; `--site-label` for this service's site).
        var labels: [String: String]?
        /// Its Secret in each sink that selects it.
        var sinks: [String: SecretSink.SiteStatus]?

        func encode(to encoder: any Encoder) throws {
            try summary.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(tokenManagement, forKey: .tokenManagement)
            try container.encodeIfPresent(tokenRenewsAt, forKey: .tokenRenewsAt)
            try container.encodeIfPresent(renewalError, forKey: .renewalError)
            try container.encodeIfPresent(bootstrapManagement, forKey: .bootstrapManagement)
            try container.encodeIfPresent(bootstrapExpiresAt, forKey: .bootstrapExpiresAt)
            try container.encodeIfPresent(bootstrapRenewsAt, forKey: .bootstrapRenewsAt)
            try container.encodeIfPresent(bootstrapRenewalError, forKey: .bootstrapRenewalError)
            try container.encodeIfPresent(health, forKey: .health)
            try container.encodeIfPresent(labels, forKey: .labels)
            try container.encodeIfPresent(sinks, forKey: .sinks)
        }

        enum CodingKeys: String, CodingKey {
            case tokenManagement, tokenRenewsAt, renewalError, bootstrapManagement, bootstrapExpiresAt, bootstrapRenewsAt
            case bootstrapRenewalError, health, labels, sinks
        }
    }

    func handle(_ request: HTTPServerRequest) -> HTTPServerResult {
        guard let published = state.published else {
            return .response(.error(ServiceError(code: .notPublished, message: "no document has been read yet")))
        }
        let sites = published.document.siteSummaries(location: location).map { view($0, published) }
        struct Body: Encodable { var sites: [SiteView] }
        return .response(.json(.ok, JSONBody.encode(Body(sites: sites))))
    }

    func view(_ summary: SiteSummary, _ published: PublishedDocument) -> SiteView {
        var view = SiteView(summary: summary, health: monitor?.health(of: summary.name, in: published.document))
        view.summary.clusterId = ClusterIdentities(annotations: published.annotations)[summary.name]
        let token = SiteTokenStatus.of(summary, in: published, central: state.snapshot.token, renewer: renewer)
        view.tokenManagement = token?.management.rawValue
        view.tokenRenewsAt = token?.renewsAt
        view.renewalError = token?.renewalError.map(ReportedError.init)
        view.bootstrapExpiresAt = token?.bootstrapExpiresAt
        view.bootstrapManagement = token?.bootstrapManagement?.rawValue
        view.bootstrapRenewsAt = token?.bootstrapRenewsAt
        view.bootstrapRenewalError = token?.bootstrapRenewalError.map(ReportedError.init)
        let labels = summary.ours ? centralLabels : SiteLabels(annotations: published.annotations)[summary.name]
        view.labels = labels.isEmpty ? nil : labels
        let written = sinks.compactMap { sink in
            sink.status(ofSite: summary.name).map { (sink.derivation.sink.kind.rawValue, $0) }
        }
        view.sinks = written.isEmpty ? nil : Dictionary(written, uniquingKeysWith: { first, _ in first })
        return view
    }
}
