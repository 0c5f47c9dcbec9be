import CoreMetrics
import FoundationEssentials
import HTTPMessages
import KubeconfigBase
import KubernetesAPI
import Logging
import Synchronization

/// Issues and renews the tokens of managed remote sites: each asked for at the site's own API
/// server (with its CA, as registered) with the bootstrap credential kept in the credentials
/// Secret, written into the site's user entry with its record annotation, as the central token is.
///
/// Invariants, checked every `checkInterval` (`+Check`) and repaired when broken:
/// 1. every token record in the document that names a registration has that registration's
///    entry in the Secret (else the newest entry of the site is adopted and a token re-issued
///    under it, or the site shows why it cannot be renewed);
/// 2. every entry of the Secret is named by its site's record, or is younger than the grace
///    period (a registration being written); older ones are removed;
/// 3. every site whose registration the document names is renewing on schedule or shows why
///    not (`SiteLifecycle`), in `GET /sites`, `/status` and `kubeconfig_managed_sites_not_renewing`.
///
/// No site waits for another: each renewal runs in a task of its own when its site is due,
/// bounded by the remote's timeout, and writes what it issued through the update loop, which
/// commits the renewals that finished together.
public final class SiteTokenRenewer: Sendable {
    /// What `GET /sites` shows of a managed site's token, as this replica last saw it.
    public struct Status: Sendable, Equatable {
        public var renewsAt: Date?
        public var renewalError: ServiceError?
        /// When the site's bootstrap credential expires, if it says (a JWT's `exp`).
        public var bootstrapExpiresAt: Date?
        /// Whether the bootstrap credential renews itself here (`managed`) or not (`static`).
        public var bootstrapManagement: SiteTokenStatus.Management?
        /// When a managed bootstrap credential is renewed next (its renewal point).
        public var bootstrapRenewsAt: Date?
        /// Why the bootstrap credential is not renewing on schedule: its last renewal's failure,
        /// the right a static one lacks, or `BootstrapExpired`.
        public var bootstrapRenewalError: ServiceError?
    }

    let credentials: SiteCredentialStore
    let remote: any RemoteTokenRequestAPI
    let updater: DocumentUpdater
    let state: PublicationState
    /// An entry of the Secret no record names is removed once this old; a registration must
    /// name its entry in the document within half of it, or it fails.
    let gracePeriod: TimeInterval
    /// How often the invariants are checked (and other replicas' changes noticed).
    let checkInterval: Duration
    /// A probe's rejection forces a renewal at most this often per site.
    private let forcedRenewalInterval: TimeInterval
    let logger: Logger
    /// Cuts the scheduler's sleep short: a site's due time moved.
    let schedule = Wakeup()
    /// Cuts the check's sleep short: a registration or removal ended.
    let checkSoon = Wakeup()
    let sites = Mutex<[String: SiteLifecycle]>([:])
    /// Token sources by registration id.
    let sources = Mutex<[String: IssuedTokenSource]>([:])
    /// Bootstrap credentials by registration id, each shared with its registration's token source.
    let bootstraps = Mutex<[String: BootstrapCredential]>([:])
    let report = Mutex(ManagedSitesReport())
    /// The document as the last check read it, with its version: renewals decide against it or
    /// the served document, whichever is newer.
    let lastRead = Mutex<(version: String, content: DocumentContent)?>(nil)
    let metrics = RepairMetrics()

    /// - Parameters:
    ///   - gracePeriod: seconds an entry no record names is kept (a registration in flight).
    ///   - maxCheckInterval: the longest time between checks; they run every third of the grace
    ///     period, at least every second.
    public init(
        credentials: SiteCredentialStore, remote: any RemoteTokenRequestAPI, updater: DocumentUpdater,
        state: PublicationState, gracePeriod: TimeInterval = 30, maxCheckInterval: Duration = .seconds(60),
        forcedRenewalInterval: TimeInterval = 300, logger: Logger
    ) {
        self.credentials = credentials
        self.remote = remote
        self.updater = updater
        self.state = state
        self.gracePeriod = gracePeriod
        self.checkInterval = min(maxCheckInterval, .milliseconds(max(1000, Int64(gracePeriod * 1000 / 3))))
        self.forcedRenewalInterval = forcedRenewalInterval
        self.logger = logger
    }

    /// The token source of `site`'s registration as the served document names it; nil when the
    /// document names none, or this replica has not loaded it from the credentials Secret yet.
    public func tokenSource(ofSite site: String) -> IssuedTokenSource? {
        guard
            let registration = state.published?.annotations[TokenRecord.annotationKey(location: site)]
                .flatMap(TokenRecord.init)?.credential
        else { return nil }
        return sources.withLock { $0[registration] }
    }

    /// The site's token status, when this replica renews it.
    public func status(of site: String, at now: Date = Date()) -> Status? {
        let lifecycle = sites.withLock { $0[site] }
        guard let lifecycle, lifecycle.phase != .unmanaged else { return nil }
        var status = Status(renewsAt: lifecycle.renewsAt, renewalError: lifecycle.error)
        let bootstrap = lifecycle.registration.flatMap { registration in bootstraps.withLock { $0[registration] } }
        if let renewal = bootstrap?.renewal.withLock({ $0 }) {
            status.bootstrapExpiresAt = renewal.expiresAt
            status.bootstrapManagement = renewal.management
            status.bootstrapRenewsAt = renewal.renewsAt
            status.bootstrapRenewalError = renewal.error(site: site, at: now)
            // A deployer token refused because the bootstrap credential lapsed: say that, and the fix.
            if let expired = status.bootstrapRenewalError, expired.code == .bootstrapExpired,
                status.renewalError?.code == .bootstrapCredentialRejected
            {
                status.renewalError = expired
            }
        }
        return status
    }

    /// Runs `body` if `site` is managed here, under the lock its removal takes: a series `body`
    /// records cannot outlive the site (its series are destroyed after it left `sites`).
    func whileManaged(_ site: String, _ body: () -> Void) {
        sites.withLock { sites in
            if sites[site] != nil { body() }
        }
    }

    /// A probe found the site's token rejected: renew it now, unless that was just done.
    public func credentialRejected(site: String, fingerprint: String) {
        let interval = forcedRenewalInterval
        transition(site) { lifecycle in
            lifecycle.tokenRejected(fingerprint, at: Date(), interval: interval)
            return []
        }
    }

    /// A probe reached the site again: a renewal (of its token or its bootstrap credential)
    /// waiting for its backoff is tried now.
    public func siteRecovered(_ site: String) {
        let registration = sites.withLock { $0[site]?.registration }
        if let bootstrap = registration.flatMap({ registration in bootstraps.withLock { $0[registration] } }) {
            bootstrap.renewal.withLock { $0.recovered(at: Date()) }
        }
        transition(site) { lifecycle in
            lifecycle.recovered(at: Date())
            return []
        }
    }

    // MARK: - Running

    /// Checks the invariants every `checkInterval`, and renews each site when it is due, in a
    /// task of its own, until cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                while !Task.isCancelled {
                    await self.check()
                    await self.checkSoon.wait(for: self.checkInterval)
                }
            }
            while !Task.isCancelled {
                for (site, registration) in startDue() {
                    group.addTask { await self.renew(site, registration) }
                }
                for (bootstrap, request) in startDueBootstraps() {
                    group.addTask { await self.renewBootstrap(bootstrap, request) }
                }
                await schedule.wait(for: sleepUntilNextDue())
            }
        }
    }

    /// Renews every due site and waits for them (what `run` does without waiting; for tests).
    func renewDue() async {
        await withDiscardingTaskGroup { group in
            for (site, registration) in startDue() {
                group.addTask { await self.renew(site, registration) }
            }
        }
    }

    /// Moves every due site to `renewing`; returns those to renew.
    private func startDue() -> [(site: String, registration: String)] {
        let now = Date()
        return sites.withLock { sites in
            var started: [(String, String)] = []
            for (name, var lifecycle) in sites {
                for case .renew(let registration) in lifecycle.due(at: now) { started.append((name, registration)) }
                sites[name] = lifecycle
            }
            return started
        }
    }

    private func sleepUntilNextDue() -> Duration {
        let next = [sites.withLock { $0.values.compactMap(\.deadline).min() }, nextBootstrapDeadline()].compactMap { $0 }
            .min()
        guard let next else { return checkInterval }
        let milliseconds = Int64(next.timeIntervalSinceNow * 1000)
        return min(checkInterval, .milliseconds(max(milliseconds, 10)))
    }

    // MARK: - One renewal

    private func renew(_ site: String, _ registration: String) async {
        let result: Result<(fingerprint: String, renewsAt: Date), ServiceError>
        if let tokens = sources.withLock({ $0[registration] }) {
            result = await renewOnce(site, registration, tokens)
        } else {
            result = .failure(ServiceError(code: .tokenRequestFailed, message: "no token source for the site's registration"))
        }
        transition(site) { lifecycle in
            lifecycle.renewalEnded(registration, result, at: Date(), jitter: .random(in: 0.8...1.2))
            return []
        }
    }

    private func renewOnce(
        _ site: String, _ registration: String, _ tokens: IssuedTokenSource
    ) async -> Result<(fingerprint: String, renewsAt: Date), ServiceError> {
        let stored = latestContent().map { storedToken(site, $0.kubeconfig, $0.annotations) }
        let rejected = sites.withLock { $0[site]?.rejected }
        if let rejected { await tokens.rejected(fingerprint: rejected) }
        do throws(ServiceError) {
            let published = try await tokens.token(for: stored ?? StoredToken(token: nil, record: nil))
            if published.token != stored?.token {
                let update = try await updater.update(renewalEdit(site, registration, tokens))
                state.stored(update.document)
            }
            if let error = published.renewalError { return .failure(error) }
            return .success((published.token.fingerprint, published.renewsAt ?? Date()))
        } catch {
            return .failure(error)
        }
    }

    /// The newer of the served document and the one the last check read.
    private func latestContent() -> DocumentContent? {
        let read = lastRead.withLock { $0 }
        guard let published = state.published else { return read?.content }
        let served = DocumentContent(kubeconfig: published.document, annotations: published.annotations)
        guard let read, let readVersion = UInt64(read.version), let servedVersion = UInt64(published.resourceVersion),
            readVersion > servedVersion
        else { return served }
        return read.content
    }

    /// Writes the site's new token, if the round's document still names `registration`: the
    /// source offers what it minted, or adopts a fresher token another replica wrote, without
    /// making a request (the update loop's rule: no remote call inside a round).
    private func renewalEdit(_ site: String, _ registration: String, _ tokens: IssuedTokenSource) -> DocumentEdit<Void> {
        DocumentEdit("renew the token of site \(site)") { (content: inout DocumentContent) throws(ServiceError) in
            let key = TokenRecord.annotationKey(location: site)
            guard content.annotations[key].flatMap(TokenRecord.init)?.credential == registration,
                let user = content.kubeconfig.contexts.first(where: { $0.name == site })?.user
            else { return }
            let stored = self.storedToken(site, content.kubeconfig, content.annotations)
            guard let published = try? await tokens.token(for: stored, mayRequest: false), published.token != stored.token
            else { return }
            content.kubeconfig.setToken(published.token, ofUser: user)
            content.annotations[key] = published.record?.annotation
        }
    }

    /// What the document holds for `site`: its user's token and its record; a token a probe
    /// found rejected counts as none, so that it is renewed.
    func storedToken(_ site: String, _ document: KubeconfigDocument, _ annotations: [String: String]) -> StoredToken {
        let user = document.contexts.first { $0.name == site }?.user
        let token = user.flatMap { document.token(ofUser: $0) }.map(BearerToken.init)
        let rejected = sites.withLock { $0[site]?.rejected }
        if let token, token.fingerprint == rejected { return StoredToken(token: nil, record: nil) }
        return StoredToken(
            token: token, record: annotations[TokenRecord.annotationKey(location: site)].flatMap(TokenRecord.init))
    }

    // MARK: - Sources

    /// The token source of `credential`'s registration, made if needed.
    func source(_ site: String, _ credential: ManagedCredential) -> IssuedTokenSource {
        let bootstrap = bootstraps.withLock { bootstraps in
            if let bootstrap = bootstraps[credential.registration] { return bootstrap }
            let bootstrap = BootstrapCredential(site: site, registered: credential)
            bootstraps[credential.registration] = bootstrap
            return bootstrap
        }
        return sources.withLock { sources in
            if let tokens = sources[credential.registration] { return tokens }
            var configuration = IssuedTokenSource.Configuration(
                namespace: credential.tokenRequest.namespace, serviceAccount: credential.tokenRequest.serviceAccount)
            configuration.expirationSeconds = credential.tokenRequest.expirationSeconds
            configuration.audiences = credential.tokenRequest.audiences
            configuration.site = site
            configuration.registration = credential.registration
            // No TokenReview at the site: the bootstrap credential may only create tokens. The
            // site's probe (SelfSubjectReview) says when a token stops authenticating.
            let tokens = IssuedTokenSource(
                configuration: configuration, tokens: ManagedSiteTokenRequests(remote: remote, bootstrap: bootstrap),
                reviews: nil, logger: logger)
            sources[credential.registration] = tokens
            return tokens
        }
    }

    /// Applies a transition to `site` and carries out its actions.
    func transition(_ site: String, _ change: (inout SiteLifecycle) -> [SiteLifecycle.Action]) {
        let (actions, gone, notRenewing) = sites.withLock { sites in
            let known = sites[site] != nil
            var lifecycle = sites[site] ?? SiteLifecycle()
            let actions = change(&lifecycle)
            let gone = lifecycle.phase == .unmanaged && lifecycle.registering.isEmpty
            sites[site] = gone ? nil : lifecycle
            return (actions, gone && known, sites.values.count { $0.error != nil })
        }
        metrics.notRenewing.record(notRenewing)
        sources.withLock { sources in
            for case .retire(let registration) in actions { sources[registration] = nil }
        }
        bootstraps.withLock { bootstraps in
            for case .retire(let registration) in actions { bootstraps[registration] = nil }
        }
        if gone {
            IssuedTokenSource.destroySeries(site: site)
            SiteTokenIssuer.destroySeries(site: site)
            BootstrapMetrics(site: site).destroy()
        } else {
            recordBootstrap(of: site)
        }
        schedule.signal()
    }
}
