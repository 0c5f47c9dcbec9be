import FoundationEssentials
import HTTPMessages
import KubernetesAPI
import Logging
import Synchronization

/// Issues and renews the tokens of managed remote sites: each asked for at the site's own API
/// server (with its CA, as registered) with the bootstrap credential kept in the credentials
/// Secret, written into the site's user entry with its record annotation, as the central token is.
///
/// A site is renewed while the Secret holds its credential *and* the document holds a record of
/// that registration: registering it again with a pasted token removes the record in the same
/// write, and a record of another registration (a newer one this replica has not read yet) is
/// left alone, so no replica renews over either. A pass first asks each due site's
/// `IssuedTokenSource` (outside the document's update loop, concurrently, so a slow site delays
/// no other and no other edit of the document), then writes what changed in one edit, in which
/// each source offers the token it just minted or adopts a fresher one another replica wrote,
/// without asking again. A failure stays with its site: its token stays while valid, the error
/// shows in `GET /sites`, and it is retried with backoff, or at once when its probe finds the
/// site back.
public final class SiteTokenRenewer: Sendable {
    /// What `GET /sites` shows of a managed site's token, as this replica last saw it.
    public struct Status: Sendable, Equatable {
        public var renewsAt: Date?
        public var renewalError: ServiceError?
    }

    let credentials: SiteCredentialStore
    private let remote: any RemoteTokenRequestAPI
    private let updater: DocumentUpdater
    private let state: PublicationState
    private let maxInterval: Duration
    /// A probe's rejection forces a renewal at most this often per site: tokens the site always
    /// rejects (audiences it does not accept) must not be minted at every probe.
    private let forcedRenewalInterval: TimeInterval
    let logger: Logger
    private let wakeup = Wakeup()
    let sites = Mutex<[String: Site]>([:])

    /// One managed site's source and schedule.
    struct Site {
        var credential: ManagedCredential
        var tokens: IssuedTokenSource
        var status = Status()
        var failures = 0
        var retryAt: Date?
        /// The fingerprint of a token a probe found rejected: renew it, whatever its record says.
        var rejected: String?
        var lastForced: Date?
        /// Being registered: its credential may not be in the Secret yet, which must not end it.
        var registering = false
    }

    /// - Parameter maxInterval: the longest sleep between passes (new sites, other replicas' changes).
    public init(
        credentials: SiteCredentialStore, remote: any RemoteTokenRequestAPI, updater: DocumentUpdater,
        state: PublicationState, maxInterval: Duration = .seconds(60), forcedRenewalInterval: TimeInterval = 300,
        logger: Logger
    ) {
        self.credentials = credentials
        self.remote = remote
        self.updater = updater
        self.state = state
        self.maxInterval = maxInterval
        self.forcedRenewalInterval = forcedRenewalInterval
        self.logger = logger
    }

    /// The site's token status, when this replica renews it.
    public func status(of site: String) -> Status? {
        sites.withLock { $0[site]?.status }
    }

    /// A probe found the site's token rejected: renew it now, unless that was just done.
    public func credentialRejected(site: String, fingerprint: String) {
        let now = Date()
        let wake = sites.withLock { sites in
            guard var entry = sites[site], entry.rejected != fingerprint else { return false }
            if let last = entry.lastForced, now.timeIntervalSince(last) < forcedRenewalInterval {
                entry.status.renewalError = ServiceError(
                    code: .tokenRequestFailed,
                    message: "the tokens issued for site \(site) are rejected by its API server (audiences?); "
                        + "renewing again at the next renewal point")
                sites[site] = entry
                return false
            }
            entry.rejected = fingerprint
            entry.lastForced = now
            entry.retryAt = nil
            sites[site] = entry
            return true
        }
        if wake { wakeup.signal() }
    }

    /// A probe reached the site again: a renewal waiting for its backoff is tried now.
    public func siteRecovered(_ site: String) {
        let waiting = sites.withLock { sites in
            guard sites[site]?.retryAt != nil else { return false }
            sites[site]?.retryAt = nil
            return true
        }
        if waiting { wakeup.signal() }
    }

    /// Runs a pass soon (a site was registered or removed).
    public func wake() { wakeup.signal() }

    // MARK: - Passes

    /// Renews every due site, then sleeps until the next renewal point, retry or `maxInterval`.
    public func run() async {
        while !Task.isCancelled {
            let next = await pass()
            await wakeup.wait(for: .milliseconds(max(Int64(next.timeIntervalSinceNow * 1000), 100)))
        }
    }

    /// One pass; returns when the next is due.
    @discardableResult
    func pass() async -> Date {
        let fallback = Date().addingTimeInterval(maxInterval.seconds)
        let managed: [String: ManagedCredential]
        let stored: StoredDocument
        let document: KubeconfigDocument
        do throws(ServiceError) {
            managed = try await credentials.read()
            stored = try await updater.store.read()
            document = try KubeconfigDocument(parsing: stored.text ?? "", origin: updater.store.origin)
        } catch {
            logger.warning(
                "cannot read managed sites' credentials or the document; retrying",
                metadata: ["error_code": "\(error.code)", "error": "\(error.message)"])
            return min(fallback, Date().addingTimeInterval(10))
        }
        let renewing = synchronise(managed, document: document, annotations: stored.annotations)
        let now = Date()
        let due = renewing.filter { name in sites.withLock { ($0[name]?.retryAt ?? .distantPast) <= now } }
        // Phase one: each site's source decides against the document as read; minting (the only
        // network call) happens here, concurrently, outside the update loop.
        let changed = await withTaskGroup(of: String?.self) { group in
            for name in due {
                group.addTask { await self.renew(name, stored: self.storedToken(name, document, stored.annotations)) }
            }
            var changed: [String] = []
            for await name in group { if let name { changed.append(name) } }
            return changed
        }
        if !changed.isEmpty { await write(changed.sorted()) }
        return sites.withLock { sites in
            sites.values.reduce(fallback) { next, site in
                min(next, site.retryAt ?? site.status.renewsAt ?? fallback)
            }
        }
    }

    /// Keeps one source per credential in the Secret (made for new ones, remade when the
    /// registration changed, dropped when it left); returns the sites to renew now: those whose
    /// record in the document is of this registration, and whose cluster entry is as registered.
    private func synchronise(
        _ managed: [String: ManagedCredential], document: KubeconfigDocument, annotations: [String: String]
    ) -> [String] {
        var renewing: [String] = []
        var removed: [IssuedTokenSource] = []
        sites.withLock { sites in
            for (name, site) in sites where managed[name] == nil && !site.registering {
                sites[name] = nil
                removed.append(site.tokens)
            }
            for (name, credential) in managed {
                if sites[name]?.credential == credential {
                    sites[name]?.registering = false
                } else if sites[name]?.registering != true {
                    sites[name] = Site(credential: credential, tokens: makeSource(name, credential))
                } else {
                    continue  // its registration is being written
                }
                let record = annotations[TokenRecord.annotationKey(location: name)].flatMap(TokenRecord.init)
                guard let record, record.credential == credential.fingerprint else { continue }
                guard case .success(let entry)? = document.endpoint(ofSite: name),
                    entry.server == credential.server, entry.certificateAuthority == credential.certificateAuthority,
                    entry.tlsServerName == credential.tlsServerName
                else {
                    // Someone changed the cluster entry by hand: the bootstrap credential goes
                    // only where the site was registered, and the token is not renewed.
                    sites[name]?.status.renewalError = ServiceError(
                        code: .siteConflict,
                        message: "the cluster entry of site \(name) differs from its registration; register it again")
                    continue
                }
                renewing.append(name)
            }
        }
        for tokens in removed { Task { await tokens.retire() } }
        return renewing
    }

    func source(_ name: String, _ credential: ManagedCredential, registering: Bool) -> IssuedTokenSource {
        sites.withLock { sites in
            if let site = sites[name], site.credential == credential {
                sites[name]?.registering = registering
                return site.tokens
            }
            let tokens = makeSource(name, credential)
            sites[name] = Site(credential: credential, tokens: tokens, registering: registering)
            return tokens
        }
    }

    private func makeSource(_ name: String, _ credential: ManagedCredential) -> IssuedTokenSource {
        var configuration = IssuedTokenSource.Configuration(
            namespace: credential.tokenRequest.namespace, serviceAccount: credential.tokenRequest.serviceAccount)
        configuration.expirationSeconds = credential.tokenRequest.expirationSeconds
        configuration.audiences = credential.tokenRequest.audiences
        configuration.site = name
        configuration.credentialFingerprint = credential.fingerprint
        // No TokenReview at the site: the bootstrap credential may only create tokens. The
        // site's probe (SelfSubjectReview) says when a token stops authenticating.
        return IssuedTokenSource(
            configuration: configuration, tokens: SiteTokenRequests(remote: remote, endpoint: credential.endpoint),
            reviews: nil, logger: logger)
    }

    /// What the document holds for `name`: its user's token and its record; a token a probe
    /// found rejected counts as none, so that it is renewed.
    private func storedToken(_ name: String, _ document: KubeconfigDocument, _ annotations: [String: String]) -> StoredToken {
        let user = document.contexts.first { $0.name == name }?.user
        let token = user.flatMap { document.token(ofUser: $0) }.map(BearerToken.init)
        let rejected = sites.withLock { $0[name]?.rejected }
        if let token, token.fingerprint == rejected { return StoredToken(token: nil, record: nil) }
        return StoredToken(
            token: token, record: annotations[TokenRecord.annotationKey(location: name)].flatMap(TokenRecord.init))
    }

    /// Asks the site's source; returns the name when the token to publish differs from the stored one.
    private func renew(_ name: String, stored: StoredToken) async -> String? {
        guard let (tokens, rejected) = sites.withLock({ sites in sites[name].map { ($0.tokens, $0.rejected) } }) else {
            return nil
        }
        if let rejected { await tokens.rejected(fingerprint: rejected) }
        do throws(ServiceError) {
            let published = try await tokens.token(for: stored)
            record(name, renewsAt: published.renewsAt, error: published.renewalError)
            return published.token == stored.token ? nil : name
        } catch {
            record(name, renewsAt: nil, error: error)
            return nil
        }
    }

    private func record(_ name: String, renewsAt: Date?, error: ServiceError?) {
        sites.withLock { sites in
            guard var site = sites[name] else { return }
            if let renewsAt { site.status.renewsAt = renewsAt }
            site.status.renewalError = error
            if error != nil {
                site.failures += 1
                site.retryAt = Date().addingTimeInterval(Self.backoff(failures: site.failures))
            } else {
                site.failures = 0
                site.retryAt = nil
            }
            sites[name] = site
        }
    }

    /// 2 s doubling to 60 s, with ±20 % jitter so replicas do not retry in step.
    static func backoff(failures: Int) -> TimeInterval {
        let exponent = min(max(failures, 1), 6)  // 2^6 s is past the cap already
        return min(Double(1 << exponent), 60) * Double.random(in: 0.8...1.2)
    }

    /// Phase two: one edit writing the sites' new tokens. Each source is asked again against
    /// the round's document, without making a request: it offers what it minted, or adopts what
    /// another replica wrote.
    private func write(_ names: [String]) async {
        let acted = sites.withLock { sites in names.map { (name: $0, rejected: sites[$0]?.rejected) } }
        let edit = DocumentEdit("renew the tokens of \(names.joined(separator: ", "))") {
            (content: inout DocumentContent) throws(ServiceError) in
            for name in names {
                let key = TokenRecord.annotationKey(location: name)
                guard
                    let (tokens, fingerprint) = self.sites.withLock({ sites in
                        sites[name].map { ($0.tokens, $0.credential.fingerprint) }
                    }),
                    content.annotations[key].flatMap(TokenRecord.init)?.credential == fingerprint,
                    let user = content.kubeconfig.contexts.first(where: { $0.name == name })?.user
                else { continue }
                let stored = self.storedToken(name, content.kubeconfig, content.annotations)
                guard let published = try? await tokens.token(for: stored, mayRequest: false),
                    published.token != stored.token
                else { continue }
                content.kubeconfig.setToken(published.token, ofUser: user)
                content.annotations[key] = published.record?.annotation
            }
        }
        do throws(ServiceError) {
            let update = try await updater.update(edit)
            state.stored(update.document)
            // A rejection reported while this was written stays, to be acted on.
            sites.withLock { sites in
                for (name, rejected) in acted where sites[name]?.rejected == rejected { sites[name]?.rejected = nil }
            }
        } catch {
            logger.warning(
                "could not write renewed site tokens; retrying",
                metadata: ["sites": "\(names)", "error_code": "\(error.code)", "error": "\(error.message)"])
            for name in names { record(name, renewsAt: nil, error: error) }
        }
    }
}
