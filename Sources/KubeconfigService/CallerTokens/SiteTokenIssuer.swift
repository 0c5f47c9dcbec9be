import CoreMetrics
import FoundationEssentials
import KubeconfigBase
import KubernetesAPI

/// Mints a token of a site's deployer account for a caller (`POST /sites/{name}/token`): the
/// central site's at the home API server, for the account whose tokens the service publishes; a
/// managed site's at its registered server, with its bootstrap credential. What is minted goes to
/// the caller only: it is never stored, published or logged, and renews nothing.
public struct SiteTokenIssuer: Sendable {
    /// The lifetimes a caller may ask for.
    public struct Lifetimes: Sendable, Equatable {
        /// Without `expirationSeconds`: TokenRequest's minimum.
        public var defaultSeconds = 600
        /// Longer asks are capped to this (`--max-credential-expiration`).
        public var maxSeconds = 3600
        public init() {}
    }

    /// What a caller asks for.
    public struct Request: Sendable, Equatable {
        public var expirationSeconds: Int?
        public var audiences: [String] = []
        public init(expirationSeconds: Int? = nil, audiences: [String] = []) {
            self.expirationSeconds = expirationSeconds
            self.audiences = audiences
        }
    }

    private let location: String
    private let publisher: SitePublisher
    private let renewer: SiteTokenRenewer?
    public let lifetimes: Lifetimes

    public init(publisher: SitePublisher, renewer: SiteTokenRenewer?, lifetimes: Lifetimes = Lifetimes()) {
        self.location = publisher.configuration.location
        self.publisher = publisher
        self.renewer = renewer
        self.lifetimes = lifetimes
    }

    /// Mints a token of `site`'s deployer account, as long-lived as asked (capped).
    ///
    /// - Throws: `.siteNotFound`; `.siteNotManaged` for a site whose credential is not issued
    ///   here; `.invalidSite` for a lifetime under 600 s or a bad audience; the site's
    ///   TokenRequest errors as a renewal's would be (`.bootstrapCredentialRejected`, ...).
    public func issue(site: String, _ request: Request) async throws(ServiceError) -> IssuedToken {
        let seconds = try expirationSeconds(request)
        try Self.checkAudiences(request.audiences)
        let source = try tokenSource(of: site)
        let issued = try await source.mint(expirationSeconds: seconds, audiences: request.audiences)
        if source === publisher.issuedTokens {
            Self.issuedCounter(site: site).increment()
        } else {
            // Counted only while the site is still managed: a removal during the mint has
            // already destroyed the series, which an increment now would make again for good.
            renewer?.whileManaged(site) { Self.issuedCounter(site: site).increment() }
        }
        return issued
    }

    /// `kubeconfig_site_tokens_issued_total{site}`: tokens minted for callers.
    private static func issuedCounter(site: String) -> Counter {
        Counter(label: "kubeconfig_site_tokens_issued_total", dimensions: [("site", site)])
    }

    /// Drops a site's series: it left the registry.
    static func destroySeries(site: String) {
        issuedCounter(site: site).destroy()
    }

    /// The lifetime to ask the site for: the default, or what was asked, at most the cap.
    func expirationSeconds(_ request: Request) throws(ServiceError) -> Int {
        guard let asked = request.expirationSeconds else { return min(lifetimes.defaultSeconds, lifetimes.maxSeconds) }
        guard asked >= 600 else {
            throw ServiceError(
                code: .invalidSite, message: "expirationSeconds: must be at least 600 (TokenRequest's minimum)")
        }
        return min(asked, lifetimes.maxSeconds)
    }

    static func checkAudiences(_ audiences: [String]) throws(ServiceError) {
        guard audiences.count <= 16 else {
            throw ServiceError(code: .invalidSite, message: "audiences: at most 16")
        }
        for audience in audiences where audience.isEmpty || audience.utf8.count > 1024 {
            throw ServiceError(code: .invalidSite, message: "audiences: each must be 1 to 1024 bytes long")
        }
    }

    private func tokenSource(of site: String) throws(ServiceError) -> IssuedTokenSource {
        guard let published = publisher.state.published,
            let summary = published.document.siteSummary(named: site, location: location)
        else {
            throw ServiceError(code: .siteNotFound, message: "no site named \(site.printable) in the document")
        }
        if summary.ours {
            guard let source = publisher.issuedTokens else {
                throw ServiceError(
                    code: .siteNotManaged,
                    message: "site \(site) publishes this pod's own token: tokens for callers are issued only for an "
                        + "account the service issues tokens for (serve --token-service-account)")
            }
            return source
        }
        guard published.annotations[TokenRecord.annotationKey(location: site)] != nil else {
            throw ServiceError(
                code: .siteNotManaged,
                message: "site \(site) has a credential registered as it is, not issued here: register it as a managed "
                    + "site (with a bootstrap credential) to issue tokens for callers")
        }
        guard let renewer else {
            throw ServiceError(
                code: .siteNotManaged,
                message: "site \(site) is managed, but this service keeps no bootstrap credentials (start it with "
                    + "--credentials-secret)")
        }
        guard let source = renewer.tokenSource(ofSite: site) else {
            throw ServiceError(
                code: .siteCredentialNotLoaded,
                message: "the credential of site \(site) is not loaded by this replica yet: try again in a few seconds")
        }
        return source
    }
}
