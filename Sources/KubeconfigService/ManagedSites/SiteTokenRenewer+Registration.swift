import FoundationEssentials
import KubeconfigBase
import Logging

extension SiteTokenRenewer {
    // MARK: - Registration

    /// A managed registration, ready for its document edit.
    struct PreparedRegistration: Sendable {
        var site: String
        var credential: ManagedCredential
        var tokens: IssuedTokenSource
        /// The document already names an identical registration: nothing was minted or stored,
        /// and the edit keeps the token in place.
        var reused: Bool
        /// The edit must have written the record by then, or fail: after the grace period the
        /// entry would be taken for an orphan.
        var deadline: Date
    }

    /// Before a managed registration's edit: an identical registration the document names is
    /// reused (nothing minted, nothing stored); otherwise a new one issues the site's first
    /// token (so a bootstrap credential that does not work is refused before anything is
    /// written) and stores its credential under its own key.
    func prepare(_ site: SiteRegistration, reuse: Bool = true) async throws(ServiceError) -> PreparedRegistration {
        guard case .issued(let spec, let bootstrap) = site.credential else {
            preconditionFailure("only a managed registration is prepared")
        }
        var credential = ManagedCredential(
            bootstrapToken: bootstrap, tokenRequest: spec, server: site.server,
            certificateAuthority: site.certificateAuthority, tlsServerName: site.tlsServerName, clusterID: site.clusterID)
        if reuse, let current = try await namedRegistration(of: site.name), current.registers(sameAs: credential) {
            return PreparedRegistration(
                site: site.name, credential: current, tokens: source(site.name, current), reused: true,
                deadline: .distantFuture)
        }
        transition(site.name) { lifecycle in
            lifecycle.registrationStarted(credential.registration)
            return []
        }
        let tokens = source(site.name, credential)
        do throws(ServiceError) {
            _ = try await tokens.token(for: StoredToken(token: nil, record: nil))
            // The grace period counts from the write: the mint before it may have been slow.
            credential.createdAt = Date()
            try await credentials.add(credential, site: site.name)
        } catch {
            transition(site.name) { $0.registrationEnded(credential.registration, renewsAt: nil) }
            throw error
        }
        return PreparedRegistration(
            site: site.name, credential: credential, tokens: tokens, reused: false,
            deadline: (credential.createdAt ?? Date()).addingTimeInterval(gracePeriod / 2))
    }

    // The registry's side, in four calls: `prepare` before a managed registration's edit, then
    // `written` or `failed`; `removed` after a removal's.

    /// The registry wrote `site`: managed through `prepared` (nil: a pasted credential), its token
    /// renewed next at `renewsAt`; the document named `previous` before, whose entry leaves the
    /// Secret unless it is the registration kept.
    func written(site: String, prepared: PreparedRegistration?, previous: String?, renewsAt: Date) async {
        if let previous, previous != prepared?.credential.registration {
            await release(site: site, registration: previous)
        }
        if let prepared {
            await finish(prepared, renewsAt: renewsAt)
        } else {
            ended(site)
        }
    }

    /// A prepared registration's edit failed: a new registration's entry leaves the Secret at once.
    func failed(_ prepared: PreparedRegistration) async {
        await finish(prepared, renewsAt: nil)
    }

    /// The registry removed `site`, whose record named `registration` (nil: a pasted credential).
    func removed(site: String, registration: String?) async {
        if let registration { await release(site: site, registration: registration) }
        ended(site)
    }

    /// The registration's edit was written (renewed next at `renewsAt`), or failed (nil): a
    /// failed new registration's entry leaves the Secret at once.
    private func finish(_ prepared: PreparedRegistration, renewsAt: Date?) async {
        if renewsAt == nil, !prepared.reused {
            await release(site: prepared.site, registration: prepared.credential.registration)
        }
        if prepared.reused, renewsAt == nil { return }
        transition(prepared.site) { $0.registrationEnded(prepared.credential.registration, renewsAt: renewsAt) }
        checkSoon.signal()
    }

    /// The document no longer names `registration` of `site` (a removal, a pasted credential, a
    /// newer registration): its entry leaves the Secret, and nothing else does. A failure leaves
    /// an orphan, which the next check removes.
    func release(site: String, registration: String) async {
        do throws(ServiceError) {
            try await credentials.remove(site: site, registration: registration)
        } catch {
            logger.warning(
                "could not remove a registration's credential from the credentials secret; a later check removes it",
                metadata: ["site": "\(site)", "error_code": "\(error.code)", "error": "\(error.message)"])
        }
    }

    /// The site was removed, or registered with a pasted credential, and written.
    private func ended(_ site: String) {
        transition(site) { $0.removed() }
        checkSoon.signal()
    }

    /// The registration the served document names for `site`, as the Secret holds it.
    private func namedRegistration(of site: String) async throws(ServiceError) -> ManagedCredential? {
        let record = state.published?.annotations[TokenRecord.annotationKey(location: site)].flatMap(TokenRecord.init)
        guard let registration = record?.credential else { return nil }
        return try await credentials.read().first { $0.site == site && $0.credential.registration == registration }?
            .credential
    }
}
