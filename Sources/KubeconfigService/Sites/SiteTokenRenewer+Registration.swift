import FoundationEssentials
import KubernetesAPI
import Logging
import Synchronization

extension SiteTokenRenewer {
    // MARK: - Registration

    /// Before a managed registration's edit: issues the site's first token (so a bootstrap
    /// credential that does not work is refused before anything is written) and stores the
    /// credential in the Secret. Returns the source the edit takes the token from, and the
    /// credential the Secret held before, to put back should the edit fail.
    func prepare(_ site: SiteRegistration) async throws(ServiceError) -> (IssuedTokenSource, ManagedCredential?) {
        guard case .issued(let spec, let bootstrap) = site.credential else {
            preconditionFailure("only a managed registration is prepared")
        }
        let credential = ManagedCredential(
            bootstrapToken: bootstrap, tokenRequest: spec, server: site.server,
            certificateAuthority: site.certificateAuthority, tlsServerName: site.tlsServerName)
        // The Secret first: without it, a token would be minted for nothing.
        let previous = try await credentials.read()[site.name]
        let tokens = source(site.name, credential, registering: true)
        do throws(ServiceError) {
            _ = try await tokens.token(for: StoredToken(token: nil, record: nil))
            try await credentials.set(site.name, credential)
        } catch {
            await forget(site.name)
            throw error
        }
        return (tokens, previous)
    }

    /// Puts back what `prepare` replaced, when the registration's edit failed.
    func restore(_ site: String, _ previous: ManagedCredential?) async {
        do throws(ServiceError) {
            try await credentials.set(site, previous)
        } catch {
            logger.warning(
                "could not restore a site's credential after its registration failed",
                metadata: ["site": "\(site)", "error_code": "\(error.code)", "error": "\(error.message)"])
        }
        // The next pass makes the source again from what the Secret holds.
        await forget(site)
    }

    /// The site is no longer managed (removed, or registered with a pasted credential, and
    /// written): its credential leaves the Secret.
    func release(_ site: String) async throws(ServiceError) {
        await forget(site)
        try await credentials.set(site, nil)
    }

    func logReleaseFailure(_ site: String, _ error: ServiceError) {
        logger.warning(
            "could not remove a site's credential from the credentials secret; it is no longer used",
            metadata: ["site": "\(site)", "error_code": "\(error.code)", "error": "\(error.message)"])
    }

    private func forget(_ site: String) async {
        let released = sites.withLock { $0.removeValue(forKey: site) }
        await released?.tokens.retire()
    }
}
