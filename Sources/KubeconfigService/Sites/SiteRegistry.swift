import FoundationEssentials
import KubernetesAPI
import Synchronization

/// Registers and removes remote sites: each change is one edit through the document's update
/// loop (the publisher's), so concurrent changes of different sites all land and nothing else
/// in the document is touched. The served document follows each change at once.
public struct SiteRegistry: Sendable {
    /// The location this service publishes: never registered or removed through here.
    public let location: String
    private let updater: DocumentUpdater
    private let state: PublicationState
    /// Issues and renews managed sites' tokens; nil when no credentials Secret is configured.
    public let renewer: SiteTokenRenewer?

    public init(location: String, updater: DocumentUpdater, state: PublicationState, renewer: SiteTokenRenewer? = nil) {
        self.location = location
        self.updater = updater
        self.state = state
        self.renewer = renewer
    }

    /// The registry of a publisher's document.
    public init(publisher: SitePublisher, renewer: SiteTokenRenewer? = nil) {
        self.init(
            location: publisher.configuration.location, updater: publisher.updater, state: publisher.state,
            renewer: renewer)
    }

    /// What a registration did.
    public struct Registration: Sendable, Equatable, Encodable {
        public var site: SiteSummary
        /// No context had the site's name before.
        public var created: Bool
        /// The document was written (false: it already said exactly this).
        public var changed: Bool
        public var resourceVersion: String
    }

    /// What a removal did.
    public struct Removal: Sendable, Equatable, Encodable {
        public var deleted: String
        public var resourceVersion: String
    }

    /// Writes `site` into the document, replacing the site of that name.
    ///
    /// - Throws: `.siteReserved` for the location this service publishes, `.siteConflict` when
    ///   another context uses its entries, or the update loop's errors.
    public func register(_ site: SiteRegistration) async throws(ServiceError) -> Registration {
        try checkNotReserved(site.name)
        // A managed site's first token is issued, and its bootstrap credential stored, before
        // the document changes (and put back should the edit fail). A pasted credential ends
        // the site's management once written: the record leaves in the same write, so no
        // replica renews over it, and then the credential leaves the Secret.
        var tokens: IssuedTokenSource?
        var previous: ManagedCredential?
        if case .issued = site.credential {
            guard let renewer else {
                throw ServiceError(
                    code: .invalidSite,
                    message: "tokenRequest: this service keeps no bootstrap credentials (start it with --credentials-secret)")
            }
            (tokens, previous) = try await renewer.prepare(site)
        }
        let outcome = EditOutcome()
        let location = location
        let recordKey = TokenRecord.annotationKey(location: site.name)
        let update: DocumentUpdate
        do throws(ServiceError) {
            update = try await updater.update(
                DocumentEdit("register site \(site.name)") { [tokens] (content: inout DocumentContent) throws(ServiceError) in
                    var written = site
                    if let tokens {
                        let stored = StoredToken(
                            token: content.kubeconfig.token(ofUser: site.user).map(BearerToken.init),
                            record: content.annotations[recordKey].flatMap(TokenRecord.init))
                        let published = try await tokens.token(for: stored)
                        written.credential = .token(published.token)
                        content.annotations[recordKey] = published.record?.annotation
                    } else {
                        content.annotations[recordKey] = nil
                    }
                    let created = try content.kubeconfig.register(written, fallback: location)
                    // As this edit left it: a later edit of the same round may remove or replace it.
                    outcome.value = (created, content.kubeconfig.siteSummary(named: site.name, location: location))
                })
        } catch {
            if tokens != nil { await renewer?.restore(site.name, previous) }
            throw error
        }
        state.stored(update.document)
        if tokens == nil { await release(site.name) }
        renewer?.wake()
        guard case (let created, let summary?)? = outcome.value else {
            throw ServiceError(code: .siteConflict, message: "site \(site.name) changed while it was being registered")
        }
        return Registration(
            site: summary, created: update.changed && created, changed: update.changed,
            resourceVersion: update.document.resourceVersion)
    }

    /// Removes the site `name`: its context, and its cluster and user unless still used.
    ///
    /// - Throws: `.siteNotFound` when no context has that name, `.siteReserved` for the location.
    public func remove(_ name: String) async throws(ServiceError) -> Removal {
        try SiteRegistration.checkName(name)
        try checkNotReserved(name)
        let location = location
        let recordKey = TokenRecord.annotationKey(location: name)
        let update = try await updater.update(
            DocumentEdit("remove site \(name)") { (content: inout DocumentContent) throws(ServiceError) in
                guard content.kubeconfig.removeSite(named: name, fallback: location) else {
                    throw ServiceError(code: .siteNotFound, message: "no site named \(name) in the document")
                }
                content.annotations[recordKey] = nil
            })
        state.stored(update.document)
        await release(name)
        return Removal(deleted: name, resourceVersion: update.document.resourceVersion)
    }

    /// Takes a site that is no longer managed out of the credentials Secret. Its record has
    /// already left the document, so a failure here leaves only an unused entry, logged.
    private func release(_ name: String) async {
        guard let renewer else { return }
        do throws(ServiceError) {
            try await renewer.release(name)
        } catch {
            renewer.logReleaseFailure(name, error)
        }
    }

    private func checkNotReserved(_ name: String) throws(ServiceError) {
        guard name != location else {
            throw ServiceError(
                code: .siteReserved,
                message: "site \(name) is published by this service; POST /sites/\(name) publishes it again")
        }
    }

    /// What the last round of a registration decided, read once the update returns.
    private final class EditOutcome: Sendable {
        private let outcome = Mutex<(created: Bool, summary: SiteSummary?)?>(nil)
        var value: (created: Bool, summary: SiteSummary?)? {
            get { outcome.withLock { $0 } }
            set { outcome.withLock { $0 = newValue } }
        }
    }
}
