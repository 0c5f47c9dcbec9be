import CoreMetrics
import FoundationEssentials
import KubeconfigBase
import KubernetesAPI
import Logging
import Synchronization

/// `kubeconfig_site_bootstrap_expiry_timestamp_seconds{site}` and
/// `kubeconfig_site_bootstrap_renewal_timestamp_seconds{site}`: a managed site's bootstrap
/// credential's expiry, and (renewed here) its renewal point. Gone with the site.
struct BootstrapMetrics {
    let expiry: Gauge
    let renewal: Gauge

    init(site: String) {
        expiry = Gauge(label: "kubeconfig_site_bootstrap_expiry_timestamp_seconds", dimensions: [("site", site)])
        renewal = Gauge(label: "kubeconfig_site_bootstrap_renewal_timestamp_seconds", dimensions: [("site", site)])
    }

    func destroy() {
        expiry.destroy()
        renewal.destroy()
    }
}

extension SiteTokenRenewer {
    // MARK: - Scheduling

    /// The bootstrap credentials of the registrations sites renew now (not one being registered,
    /// nor a stalled one, whose entry may be gone).
    private func renewedBootstraps() -> [BootstrapCredential] {
        let renewed = sites.withLock { sites in
            Set(
                sites.values.compactMap { lifecycle -> String? in
                    if case .stalled = lifecycle.phase { return nil }
                    return lifecycle.registration
                })
        }
        return bootstraps.withLock { bootstraps in bootstraps.values.filter { renewed.contains($0.registration) } }
    }

    /// Moves every due bootstrap credential to `renewing`; returns those to renew, with what to ask.
    func startDueBootstraps(at now: Date = Date()) -> [(BootstrapCredential, BootstrapRenewal.Request)] {
        renewedBootstraps().compactMap { bootstrap in
            bootstrap.renewal.withLock { $0.due(at: now) }.map { (bootstrap, $0) }
        }
    }

    func nextBootstrapDeadline() -> Date? {
        renewedBootstraps().compactMap { $0.renewal.withLock(\.deadline) }.min()
    }

    /// Renews every due bootstrap credential and waits for them (what `run` does; for tests).
    func renewDueBootstraps(at now: Date = Date()) async {
        await withDiscardingTaskGroup { group in
            for (bootstrap, request) in startDueBootstraps(at: now) {
                group.addTask { await self.renewBootstrap(bootstrap, request) }
            }
        }
    }

    // MARK: - One renewal

    /// Asks the site for a new token of the bootstrap credential's own account, with the current
    /// one, and writes it into the registration's key of the Secret (conditionally): the next
    /// TokenRequest of the registration presents it. A newer one found there is adopted instead.
    func renewBootstrap(_ bootstrap: BootstrapCredential, _ request: BootstrapRenewal.Request) async {
        let site = bootstrap.site
        let account = "\(request.namespace)/\(request.serviceAccount)"
        let outcome: BootstrapRenewal.Outcome
        do throws(ServiceError) {
            let issued = try await remote.requestToken(
                at: bootstrap.endpoint, namespace: request.namespace, serviceAccount: request.serviceAccount,
                expirationSeconds: request.expirationSeconds, audiences: request.audiences)
            switch try await credentials.replaceBootstrap(
                site: site, registration: bootstrap.registration, with: issued.token)
            {
            case .written:
                outcome = .renewed(issued.token, expiresAt: issued.expiresAt)
                logger.info(
                    "renewed a site's bootstrap credential",
                    metadata: [
                        "site": "\(site)", "serviceaccount": "\(account)", "token_fingerprint": "\(issued.token.fingerprint)",
                        "expires_at": "\(issued.expiresAt.formatted(.iso8601))",
                    ])
            case .newer(let token):
                outcome = .renewed(token, expiresAt: nil)
                logger.debug(
                    "another replica renewed a site's bootstrap credential; adopting it",
                    metadata: ["site": "\(site)", "token_fingerprint": "\(token.fingerprint)"])
            case .gone:
                outcome = .failed(
                    ServiceError(
                        code: .siteCredentialMissing,
                        message: "the registration of site \(site) left the credentials secret while its bootstrap "
                            + "credential was renewed"))
            }
        } catch {
            let explained = explainBootstrap(error, site: site, account: request)
            outcome = error.code == .apiForbidden ? .forbidden(explained) : .failed(explained)
            let previous = bootstrap.renewal.withLock { $0.error(site: site, at: Date())?.code }
            logger.log(
                level: previous == explained.code ? .debug : .warning,
                error.code == .apiForbidden
                    ? "a site's bootstrap credential may not renew itself; it is kept as it is (static)"
                    : "could not renew a site's bootstrap credential; it is kept while valid and renewal retried",
                metadata: [
                    "site": "\(site)", "serviceaccount": "\(account)", "error_code": "\(explained.code)",
                    "error": "\(explained.message)",
                ])
        }
        bootstrap.renewal.withLock { $0.ended(outcome, at: Date(), jitter: .random(in: 0.8...1.2)) }
        recordBootstrap(of: site)
        schedule.signal()
    }

    /// The remote's refusal, with what the operator can do about it.
    private func explainBootstrap(
        _ error: ServiceError, site: String, account request: BootstrapRenewal.Request
    ) -> ServiceError {
        let account = "serviceaccount \(request.namespace)/\(request.serviceAccount)"
        switch error.code {
        case .apiUnauthorized:
            return ServiceError(
                code: .bootstrapCredentialRejected,
                message: "site \(site) rejected its bootstrap credential as invalid or expired (\(error.message)); run "
                    + "kubeconfig-service site add \(site) again")
        case .apiForbidden:
            return ServiceError(
                code: .tokenRequestForbidden,
                message: "site \(site) refused to renew its bootstrap credential: \(error.message); it is kept as it is "
                    + "until it expires: to have it renewed, allow \(account) create on serviceaccounts/token for "
                    + "resourceNames [\(request.serviceAccount)] in namespace \(request.namespace) there (kubeconfig-service "
                    + "site add grants it)")
        case .apiNotFound:
            return ServiceError(
                code: .serviceAccountNotFound, message: "\(account) not found at site \(site) (\(error.message))")
        case .apiRejected, .apiProtocol:
            return ServiceError(
                code: .tokenRequestFailed, message: "TokenRequest for \(account) at site \(site): \(error.message)")
        default:
            return error
        }
    }

    // MARK: - Replicas

    /// The Secret's entry holds another bootstrap credential than this process uses: a newer one
    /// (another replica renewed it) is adopted.
    func adoptBootstrap(of entry: SiteCredentialStore.Entry, at now: Date) {
        guard let bootstrap = bootstraps.withLock({ $0[entry.credential.registration] }) else { return }
        guard bootstrap.renewal.withLock({ $0.adopt(entry.credential.bootstrapToken, at: now) }) else { return }
        logger.debug(
            "adopted a site's bootstrap credential another replica renewed",
            metadata: ["site": "\(entry.site)", "token_fingerprint": "\(entry.credential.bootstrapToken.fingerprint)"])
        recordBootstrap(of: entry.site)
        schedule.signal()
    }

    // MARK: - Metrics

    /// Records the site's bootstrap series, under the lock its removal takes: they cannot
    /// outlive the site (destroyed after it left `sites`).
    func recordBootstrap(of site: String) {
        sites.withLock { sites in
            guard let registration = sites[site]?.registration,
                let bootstrap = bootstraps.withLock({ $0[registration] })
            else { return }
            let renewal = bootstrap.renewal.withLock { $0 }
            let metrics = BootstrapMetrics(site: site)
            if let expiresAt = renewal.expiresAt {
                metrics.expiry.record(expiresAt.timeIntervalSince1970)
            } else {
                metrics.expiry.destroy()
            }
            if let renewsAt = renewal.renewsAt {
                metrics.renewal.record(renewsAt.timeIntervalSince1970)
            } else {
                metrics.renewal.destroy()
            }
        }
    }
}
