import Foundation
import HTTPMessages
import KubernetesAPI
import Logging
import Synchronization

/// Issues and renews the tokens of managed remote sites: each asked for at the site's own API
/// server (with its CA) with the bootstrap credential kept in the credentials Secret, written
/// into the site's user entry with its record annotation, as the central token is.
///
/// A site is renewed while the Secret holds its credential *and* the document holds its record:
/// registering it again with a pasted token removes the record in the same write, so no replica
/// renews over it. A pass first asks each due site's `IssuedTokenSource` (outside the document's
/// update loop, concurrently, so a slow site delays no other and no other edit of the document),
/// then writes what changed in one edit, in which each source offers the token it just minted
/// or adopts a fresher one another replica wrote. A failure stays with its site: its token stays
/// while valid, the error shows in `GET /sites`, and it is retried with backoff.
public final class SiteTokenRenewer: Sendable {
    /// What `GET /sites` shows of a managed site's token, as this replica last saw it.
    public struct Status: Sendable, Equatable {
        public var renewsAt: Date?
        public var renewalError: ServiceError?
    }

    public let credentials: SiteCredentialStore
    private let remote: any RemoteTokenRequestAPI
    private let updater: DocumentUpdater
    private let state: PublicationState
    private let maxInterval: Duration
    private let logger: Logger
    private let wakeup = Wakeup()
    private let sites = Mutex<[String: Site]>([:])

    /// One managed site's source and schedule.
    private struct Site {
        var credential: ManagedCredential
        var endpoint: ClusterEndpoint
        var tokens: IssuedTokenSource
        var status = Status()
        var failures = 0
        var retryAt: Date?
        /// The fingerprint of a token a probe found rejected: renew it, whatever its record says.
        var rejected: String?
    }

    /// - Parameter maxInterval: the longest sleep between passes (new sites, other replicas' changes).
    public init(
        credentials: SiteCredentialStore, remote: any RemoteTokenRequestAPI, updater: DocumentUpdater,
        state: PublicationState, maxInterval: Duration = .seconds(60), logger: Logger
    ) {
        self.credentials = credentials
        self.remote = remote
        self.updater = updater
        self.state = state
        self.maxInterval = maxInterval
        self.logger = logger
    }

    /// The site's token status, when this replica renews it.
    public func status(of site: String) -> Status? {
        sites.withLock { $0[site]?.status }
    }

    // MARK: - Registration

    /// Before a managed registration's edit: issues the site's first token (so a bootstrap
    /// credential that does not work is refused before anything is written) and stores the
    /// credential in the Secret. Returns the source the edit takes the token from.
    func prepare(_ site: SiteRegistration) async throws(ServiceError) -> IssuedTokenSource {
        guard case .issued(let spec, let bootstrap) = site.credential else {
            preconditionFailure("only a managed registration is prepared")
        }
        let credential = ManagedCredential(bootstrapToken: bootstrap.value, tokenRequest: spec)
        let endpoint = ClusterEndpoint(
            server: site.server, certificateAuthority: site.certificateAuthority, tlsServerName: site.tlsServerName,
            credential: .token(bootstrap))
        let tokens = source(site.name, credential, endpoint)
        _ = try await tokens.token(for: StoredToken(token: nil, record: nil))
        try await credentials.set(site.name, credential)
        return tokens
    }

    /// The site is no longer managed (removed, or registered with a pasted credential): its
    /// credential leaves the Secret before the document changes, so no pass renews it again.
    func release(_ site: String) async throws(ServiceError) {
        let released = sites.withLock { $0.removeValue(forKey: site) }
        await released?.tokens.retire()
        try await credentials.set(site, nil)
    }

    /// A probe found the site's token rejected: renew it now.
    public func credentialRejected(site: String, fingerprint: String) {
        let known = sites.withLock { sites in
            guard sites[site] != nil else { return false }
            sites[site]?.rejected = fingerprint
            return true
        }
        if known { wakeup.signal() }
    }

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

    /// Keeps one source per managed site: made for new ones, remade when the credential or the
    /// site's server or CA changed, dropped for sites no longer managed. Returns the managed names.
    private func synchronise(
        _ managed: [String: ManagedCredential], document: KubeconfigDocument, annotations: [String: String]
    ) -> [String] {
        var names: [String] = []
        var retired: [IssuedTokenSource] = []
        sites.withLock { sites in
            for (name, credential) in managed {
                guard annotations[TokenRecord.annotationKey(location: name)] != nil,
                    case .success(let probed)? = document.endpoint(ofSite: name)
                else { continue }
                let endpoint = ClusterEndpoint(
                    server: probed.server, certificateAuthority: probed.certificateAuthority,
                    tlsServerName: probed.tlsServerName, credential: .token(BearerToken(credential.bootstrapToken)))
                if let site = sites[name], site.credential == credential, site.endpoint == endpoint {
                    names.append(name)
                    continue
                }
                if let old = sites[name] { retired.append(old.tokens) }
                sites[name] = Site(credential: credential, endpoint: endpoint, tokens: makeSource(name, credential, endpoint))
                names.append(name)
            }
            for name in sites.keys where !names.contains(name) {
                if let old = sites.removeValue(forKey: name) { retired.append(old.tokens) }
            }
        }
        for tokens in retired { Task { await tokens.retire() } }
        return names
    }

    private func source(_ name: String, _ credential: ManagedCredential, _ endpoint: ClusterEndpoint) -> IssuedTokenSource {
        sites.withLock { sites in
            if let site = sites[name], site.credential == credential, site.endpoint == endpoint { return site.tokens }
            let tokens = makeSource(name, credential, endpoint)
            sites[name] = Site(credential: credential, endpoint: endpoint, tokens: tokens)
            return tokens
        }
    }

    private func makeSource(_ name: String, _ credential: ManagedCredential, _ endpoint: ClusterEndpoint) -> IssuedTokenSource {
        var configuration = IssuedTokenSource.Configuration(
            namespace: credential.tokenRequest.namespace, serviceAccount: credential.tokenRequest.serviceAccount)
        configuration.expirationSeconds = credential.tokenRequest.expirationSeconds
        configuration.audiences = credential.tokenRequest.audiences
        configuration.site = name
        // No TokenReview at the site: the bootstrap credential may only create tokens. The
        // site's probe (SelfSubjectReview) says when a token stops authenticating.
        return IssuedTokenSource(
            configuration: configuration, tokens: SiteTokenRequests(remote: remote, endpoint: endpoint), reviews: nil,
            logger: logger)
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
            record(name, published: published, error: published.renewalError)
            return published.token == stored.token ? nil : name
        } catch {
            record(name, published: nil, error: error)
            return nil
        }
    }

    private func record(_ name: String, published: PublishedToken?, error: ServiceError?) {
        sites.withLock { sites in
            guard var site = sites[name] else { return }
            if let published { site.status.renewsAt = published.renewsAt }
            site.status.renewalError = error
            if error != nil {
                site.failures += 1
                let backoff = min(pow(2, Double(site.failures)), 60) * Double.random(in: 0.8...1.2)
                site.retryAt = Date().addingTimeInterval(backoff)
            } else {
                site.failures = 0
                site.retryAt = nil
            }
            sites[name] = site
        }
    }

    /// Phase two: one edit writing the sites' new tokens. Each source is asked again against
    /// the round's document: it offers what it minted, or adopts what another replica wrote.
    private func write(_ names: [String]) async {
        let edit = DocumentEdit("renew the tokens of \(names.joined(separator: ", "))") {
            (content: inout DocumentContent) throws(ServiceError) in
            for name in names {
                let key = TokenRecord.annotationKey(location: name)
                guard content.annotations[key] != nil,
                    let user = content.kubeconfig.contexts.first(where: { $0.name == name })?.user,
                    let tokens = self.sites.withLock({ $0[name]?.tokens })
                else { continue }
                let stored = self.storedToken(name, content.kubeconfig, content.annotations)
                guard let published = try? await tokens.token(for: stored), published.token != stored.token else { continue }
                content.kubeconfig.setToken(published.token, ofUser: user)
                content.annotations[key] = published.record?.annotation
            }
        }
        do throws(ServiceError) {
            let update = try await updater.update(edit)
            state.stored(update.document)
            sites.withLock { sites in for name in names { sites[name]?.rejected = nil } }
        } catch {
            logger.warning(
                "could not write renewed site tokens; retrying",
                metadata: ["sites": "\(names)", "error_code": "\(error.code)", "error": "\(error.message)"])
            sites.withLock { sites in
                for name in names { sites[name]?.retryAt = Date().addingTimeInterval(5) }
            }
        }
    }

    /// Runs a pass soon (a site was registered or removed).
    public func wake() { wakeup.signal() }
}
