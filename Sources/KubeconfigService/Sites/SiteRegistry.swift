import FoundationEssentials
import KubeconfigBase
import KubernetesAPI

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
    /// Probes a site with a credential of its own before it is written; nil: none is probed.
    private let prober: (any ClusterProbeAPI)?

    public init(
        location: String, updater: DocumentUpdater, state: PublicationState, renewer: SiteTokenRenewer? = nil,
        prober: (any ClusterProbeAPI)? = nil
    ) {
        self.location = location
        self.updater = updater
        self.state = state
        self.renewer = renewer
        self.prober = prober
    }

    /// The registry of a publisher's document.
    public init(publisher: SitePublisher, renewer: SiteTokenRenewer? = nil, prober: (any ClusterProbeAPI)? = nil) {
        self.init(
            location: publisher.configuration.location, updater: publisher.updater, state: publisher.state,
            renewer: renewer, prober: prober)
    }

    /// What a registration did.
    public struct Registration: Sendable, Equatable, Encodable {
        public var site: SiteSummary
        /// No context had the site's name before.
        public var created: Bool
        /// The document was written (false: it already said exactly this).
        public var changed: Bool
        public var resourceVersion: String
        /// The probe of a site with a credential of its own, made before it was written; nil for
        /// a managed site (issuing its token proved the server and the bootstrap credential).
        public var health: SiteHealth?
        /// What the caller should know: a site written although its probe failed.
        public var warnings: [String] = []
    }

    /// What a removal did.
    public struct Removal: Sendable, Equatable, Encodable {
        public var deleted: String
        public var resourceVersion: String
    }

    /// Writes `site` into the document, replacing the site of that name.
    ///
    /// A managed site's registration is stored in the credentials Secret under a key of its own
    /// before the document names it; the registration the document named before leaves the
    /// Secret after the write, by its id. So a crash between the two writes leaves at most an
    /// entry no record names, which a later check removes; never a record without its entry.
    ///
    /// A site with a credential of its own is probed first (up to the API timeout, outside the
    /// update loop: a change of the same site meanwhile is ordered before this one).
    ///
    /// - Parameter requireHealthy: refuse (`.siteVerificationFailed`, nothing written) a site
    ///   with a credential of its own whose probe fails; otherwise it is written with a warning.
    /// - Throws: `.siteReserved` for the location this service publishes, `.siteConflict` when
    ///   another context uses its entries, `.siteVerificationFailed`, or the update loop's errors.
    public func register(_ site: SiteRegistration, requireHealthy: Bool = false) async throws(ServiceError) -> Registration {
        try checkNotReserved(site.name)
        if case .issued = site.credential, renewer == nil {
            throw ServiceError(
                code: .invalidSite,
                message: "tokenRequest: this service keeps no bootstrap credentials (start it with --credentials-secret)")
        }
        // Connections to endpoints no longer served (the ones probes of earlier registrations
        // used, once idle) are let go of, whatever this one's outcome: the health monitor does the
        // same, but may not run. So at most the last few registrations' connections linger.
        defer { Task { await releaseUnusedConnections() } }
        try await checkCluster(site)
        let health = try await verify(site, requireHealthy: requireHealthy)
        var (prepared, written) = try await write(site, reuse: true)
        if written == nil {
            // The registration to keep was replaced meanwhile, or the token minted for a new one
            // expired before its round: register anew, once.
            (prepared, written) = try await write(site, reuse: false)
        }
        guard let (update, outcome) = written else {
            preconditionFailure("a registration made anew returns its update or throws")
        }
        state.stored(update.document)
        guard case (let created, let summary?, let previous) = outcome else {
            throw ServiceError(code: .siteConflict, message: "site \(site.name) changed while it was being registered")
        }
        if let renewer {
            let record = update.document.annotations[TokenRecord.annotationKey(location: site.name)]
                .flatMap(TokenRecord.init)
            await renewer.written(
                site: site.name, prepared: prepared, previous: previous,
                renewsAt: prepared.flatMap { prepared in record.map { prepared.tokens.renewsAt($0) } } ?? Date())
        }
        var registration = Registration(
            site: summary, created: update.changed && created, changed: update.changed,
            resourceVersion: update.document.resourceVersion, health: health)
        if let health, !health.isUp {
            registration.warnings.append(
                "site \(site.name) was written, but its probe failed (\(health.problem)): deployments there will fail "
                    + "until that is fixed; PUT with ?verify=true refuses such a site")
        }
        return registration
    }

    /// Refuses a second name for a cluster before a token is minted or anything stored: the
    /// common case answered at once. A conflict the served document shows is confirmed on a
    /// fresh read (the served one may lag a removal by another replica). The round that writes
    /// checks again against what it read (`DocumentContent.registerCluster`): that is what holds.
    private func checkCluster(_ site: SiteRegistration) async throws(ServiceError) {
        guard let id = site.clusterID, !site.allowsDuplicateCluster, let published = state.published else { return }
        func conflict(_ document: KubeconfigDocument, _ annotations: [String: String]) -> String? {
            ClusterIdentities(annotations: annotations).conflict(
                registering: site.name, as: id, among: Set(document.contexts.map(\.name)))
        }
        guard conflict(published.document, published.annotations) != nil else { return }
        let stored = try await updater.store.read()
        let document = (try? KubeconfigDocument(parsing: stored.text ?? "", origin: updater.store.origin)) ?? published.document
        if let other = conflict(document, stored.annotations) {
            throw ClusterIdentities.conflictError(site: site.name, other: other, id: id)
        }
    }

    /// Lets the prober go of connections to endpoints the served document does not hold.
    private func releaseUnusedConnections() async {
        guard let prober, let document = state.published?.document else { return }
        await prober.retain(document.contexts.compactMap { try? document.endpoint(ofSite: $0.name)?.get() })
    }

    /// Probes a site with a credential of its own as registered, before it is written.
    private func verify(_ site: SiteRegistration, requireHealthy: Bool) async throws(ServiceError) -> SiteHealth? {
        guard let endpoint = site.endpoint else { return nil }
        guard let prober else {
            guard !requireHealthy else {
                throw ServiceError(code: .siteVerificationFailed, message: "this service probes no sites: nothing was written")
            }
            return nil
        }
        let health = SiteHealth(await prober.probe(endpoint), checkedAt: Date())
        if requireHealthy, !health.isUp {
            throw ServiceError(
                code: .siteVerificationFailed,
                message: "site \(site.name) was not written: its probe failed: \(health.problem)")
        }
        return health
    }

    /// Prepares a managed registration (reusing the one in place when `reuse` allows) and runs its
    /// edit. Returns no update when the edit asks for the registration to be made anew; a failed
    /// new registration's entry leaves the Secret.
    private func write(
        _ site: SiteRegistration, reuse: Bool
    ) async throws(ServiceError) -> (SiteTokenRenewer.PreparedRegistration?, (DocumentUpdate, EditOutcome)?) {
        var prepared: SiteTokenRenewer.PreparedRegistration?
        if case .issued = site.credential, let renewer { prepared = try await renewer.prepare(site, reuse: reuse) }
        do throws(ServiceError) {
            return (prepared, try await updater.update(returning: registrationEdit(site, prepared)))
        } catch {
            if let prepared { await renewer?.failed(prepared) }
            guard error.code == .registrationReplaced else { throw error }
            guard reuse else {
                throw ServiceError(
                    code: .conflict, message: "site \(site.name) kept changing while it was being registered: \(error.message)")
            }
            return (nil, nil)
        }
    }

    /// The edit writing `site`: a managed one with its token and a record naming its
    /// registration, a pasted credential without a record. It returns the registration the
    /// document named before (to release it once written).
    private func registrationEdit(
        _ site: SiteRegistration, _ prepared: SiteTokenRenewer.PreparedRegistration?
    ) -> DocumentEdit<EditOutcome> {
        let location = location
        let recordKey = TokenRecord.annotationKey(location: site.name)
        return DocumentEdit("register site \(site.name)") { (content: inout DocumentContent) throws(ServiceError) in
            var written = site
            let record = content.annotations[recordKey].flatMap(TokenRecord.init)
            if let prepared, prepared.reused {
                written.credential = .token(try Self.keptToken(of: prepared, record: record, in: content))
            } else if let prepared {
                try Self.checkInTime(prepared)
                let stored = StoredToken(
                    token: content.kubeconfig.token(ofUser: site.user).map(BearerToken.init), record: record)
                let published: PublishedToken
                do throws(ServiceError) {
                    // No request inside a round: what prepare minted, while it is valid.
                    published = try await prepared.tokens.token(for: stored, mayRequest: false)
                } catch {
                    throw ServiceError(
                        code: .registrationReplaced, message: "the token minted for site \(site.name) expired before its round")
                }
                written.credential = .token(published.token)
                content.annotations[recordKey] = published.record?.annotation
            } else {
                content.annotations[recordKey] = nil
            }
            let created = try content.kubeconfig.register(written, fallback: location)
            // In the round that writes: another replica's registration of the same cluster under
            // another name, written meanwhile, is read here (after its 409) and refuses this one.
            try content.registerCluster(site.clusterID, site: site.name, allowDuplicate: site.allowsDuplicateCluster)
            content.registerLabels(site.labels, site: site.name)
            // As this edit left it: a later edit of the same round may remove or replace it.
            var summary = content.kubeconfig.siteSummary(named: site.name, location: location)
            summary?.clusterId = site.clusterID
            return (created, summary, record?.credential)
        }
    }

    /// A new registration's record must be written before its entry could be taken for an
    /// orphan (half the grace period after the entry was stored).
    private static func checkInTime(_ prepared: SiteTokenRenewer.PreparedRegistration) throws(ServiceError) {
        guard Date() < prepared.deadline else {
            throw ServiceError(
                code: .registrationTimedOut,
                message: "the document could not be written in time to register site \(prepared.site) (the API server "
                    + "is slow or overloaded); nothing was registered: try again")
        }
    }

    /// A kept registration's token in place (the renewer renews it), while the round's record
    /// still names that registration; otherwise the site was registered anew or removed meanwhile.
    private static func keptToken(
        of prepared: SiteTokenRenewer.PreparedRegistration, record: TokenRecord?, in content: DocumentContent
    ) throws(ServiceError) -> BearerToken {
        let user = content.kubeconfig.contexts.first { $0.name == prepared.site }?.user
        guard record?.credential == prepared.credential.registration,
            let token = user.flatMap({ content.kubeconfig.token(ofUser: $0) })
        else {
            throw ServiceError(code: .registrationReplaced, message: "site \(prepared.site) was registered anew meanwhile")
        }
        return BearerToken(token)
    }

    /// Removes the site `name`: its context, and its cluster and user unless still used.
    ///
    /// - Throws: `.siteNotFound` when no context has that name, `.siteReserved` for the location.
    public func remove(_ name: String) async throws(ServiceError) -> Removal {
        try SiteRegistration.checkName(name)
        try checkNotReserved(name)
        let location = location
        let recordKey = TokenRecord.annotationKey(location: name)
        let (update, removed) = try await updater.update(
            returning: DocumentEdit("remove site \(name)") {
                (content: inout DocumentContent) throws(ServiceError) -> String? in
                guard content.kubeconfig.removeSite(named: name, fallback: location) else {
                    throw ServiceError(code: .siteNotFound, message: "no site named \(name) in the document")
                }
                let registration = content.annotations[recordKey].flatMap(TokenRecord.init)?.credential
                content.annotations[recordKey] = nil
                content.removeCluster(site: name)
                content.removeLabels(site: name)
                return registration
            })
        state.stored(update.document)
        await renewer?.removed(site: name, registration: removed)
        return Removal(deleted: name, resourceVersion: update.document.resourceVersion)
    }

    private func checkNotReserved(_ name: String) throws(ServiceError) {
        guard name != location else {
            throw ServiceError(
                code: .siteReserved,
                message: "site \(name) is published by this service; POST /sites/\(name) publishes it again")
        }
    }

    /// What the round that stored a registration decided: whether it created the site, the site
    /// as written, and the registration the document named before.
    private typealias EditOutcome = (created: Bool, summary: SiteSummary?, previous: String?)
}
