import CoreMetrics
import FoundationEssentials
import HTTPMessages
import KubeconfigBase
import KubernetesAPI
import Logging
import Synchronization

/// What `GET /status` says of managed sites: the last check of the invariants and its repairs.
public struct ManagedSitesReport: Sendable, Equatable, Encodable {
    public struct Site: Sendable, Equatable, Encodable {
        public var site: String
        public var code: String
        public var message: String
    }

    public var checkedAt: Date?
    /// Entries in the credentials Secret at the last check.
    public var credentials = 0
    /// Entries no record named, removed after the grace period, since start.
    public var orphansRemoved = 0
    /// Sites whose record named a registration missing from the Secret, re-issued under the
    /// site's newest entry, since start.
    public var reissued = 0
    /// Sites whose registration the document names that are not renewing on schedule, and why.
    public var notRenewing: [Site] = []
    /// Keys of the Secret that are not a registration this version can read: never removed
    /// here (another version may have written them), listed so that someone looks.
    public var unreadableKeys: [String] = []
    /// Why the last check could not run.
    public var lastError: ReportedError?
}

/// `kubeconfig_site_credential_repairs_total{kind}` and `kubeconfig_managed_sites_not_renewing`.
final class RepairMetrics: Sendable {
    let orphans = Counter(label: "kubeconfig_site_credential_repairs_total", dimensions: [("kind", "orphan")])
    let reissued = Counter(label: "kubeconfig_site_credential_repairs_total", dimensions: [("kind", "reissued")])
    let notRenewing = Gauge(label: "kubeconfig_managed_sites_not_renewing")
}

extension SiteTokenRenewer {
    /// The last check's report, with the sites not renewing as this replica sees them now.
    public func managedSitesReport() -> ManagedSitesReport {
        var report = report.withLock { $0 }
        report.notRenewing = notRenewing()
        return report
    }

    private func notRenewing() -> [ManagedSitesReport.Site] {
        sites.withLock { sites in
            sites.compactMap { name, lifecycle in
                lifecycle.error.map { ManagedSitesReport.Site(site: name, code: $0.code.rawValue, message: $0.message) }
            }
            .sorted { $0.site < $1.site }
        }
    }

    // MARK: - Checking the invariants

    /// Reads the Secret and the document, tells each site's lifecycle what they name, removes
    /// orphans past the grace period and re-issues records whose registration is gone.
    func check() async {
        let readAt = Date()
        guard let (entries, content) = await read() else { return }
        let now = Date()
        let registering = sites.withLock { $0.values.reduce(into: Set<String>()) { $0.formUnion($1.registering) } }
        let named = namedRegistrations(content)
        var adopted: [String: (missing: String, entry: SiteCredentialStore.Entry)] = [:]
        for (site, registration) in named {
            let observation: SiteLifecycle.Observation
            if let entry = entries.first(where: { $0.site == site && $0.credential.registration == registration }) {
                observation = observe(entry, content, now: now)
                adoptBootstrap(of: entry, at: now)
            } else if let entry = newestSettled(of: site, in: entries, registering: registering, now: now) {
                adopted[site] = (registration, entry)
                continue
            } else {
                observation = .stalled(
                    registration: registration,
                    error: ServiceError(
                        code: .siteCredentialMissing,
                        message: "the credentials secret holds no bootstrap credential for site \(site)'s registration; "
                            + "register the site again"))
            }
            transition(site) { $0.observe(observation, readAt: readAt) }
        }
        let known = sites.withLock { Set($0.keys) }
        for site in known.subtracting(named.keys) { transition(site) { $0.observe(.unmanaged, readAt: readAt) } }
        let orphans = entries.filter { entry in
            named[entry.site] != entry.credential.registration && adopted[entry.site]?.entry != entry
                && !registering.contains(entry.credential.registration) && age(of: entry, now: now) > gracePeriod
        }
        let removed = await removeOrphans(orphans)
        await reissue(adopted)
        dropUnusedSources()
        report.withLock { report in
            report.checkedAt = now
            report.credentials = entries.count - removed
            report.unreadableKeys = credentials.unreadableKeys
            report.lastError = nil
        }
    }

    /// The Secret's entries and the document; nil (logged, and in the report) when either
    /// cannot be read.
    private func read() async -> ([SiteCredentialStore.Entry], DocumentContent)? {
        do throws(ServiceError) {
            let entries = try await credentials.read()
            let stored = try await updater.store.read()
            // The version served is parsed already (a 1 MiB document takes tens of milliseconds).
            let kubeconfig: KubeconfigDocument
            if let served = state.published, served.resourceVersion == stored.version {
                kubeconfig = served.document
            } else {
                kubeconfig = try KubeconfigDocument(parsing: stored.text ?? "", origin: updater.store.origin)
            }
            let content = DocumentContent(kubeconfig: kubeconfig, annotations: stored.annotations)
            lastRead.withLock { $0 = (stored.version, content) }
            return (entries, content)
        } catch {
            logger.warning(
                "cannot read managed sites' credentials or the document; checking again later",
                metadata: ["error_code": "\(error.code)", "error": "\(error.message)"])
            report.withLock { $0.lastError = ReportedError(error) }
            return nil
        }
    }

    /// Drops the sources of registrations no site renews or registers any more (a re-issue that
    /// failed under an entry since removed).
    private func dropUnusedSources() {
        let live = sites.withLock { sites in
            sites.values.reduce(into: Set<String>()) { live, lifecycle in
                live.formUnion(lifecycle.registering)
                if let registration = lifecycle.registration { live.insert(registration) }
            }
        }
        sources.withLock { sources in sources = sources.filter { live.contains($0.key) } }
        bootstraps.withLock { bootstraps in bootstraps = bootstraps.filter { live.contains($0.key) } }
    }

    /// The registration each site's token record names.
    private func namedRegistrations(_ content: DocumentContent) -> [String: String] {
        var named: [String: String] = [:]
        for context in content.kubeconfig.contexts {
            let record = content.annotations[TokenRecord.annotationKey(location: context.name)].flatMap(TokenRecord.init)
            if let registration = record?.credential { named[context.name] = registration }
        }
        return named
    }

    /// A named registration whose entry is there: when its token is due, unless someone changed
    /// the site's cluster entry by hand (the bootstrap credential goes only where the site was
    /// registered, and the token is not renewed behind the entry's back).
    private func observe(
        _ entry: SiteCredentialStore.Entry, _ content: DocumentContent, now: Date
    ) -> SiteLifecycle.Observation {
        let credential = entry.credential
        guard case .success(let endpoint)? = content.kubeconfig.endpoint(ofSite: entry.site),
            endpoint.server == credential.server, endpoint.certificateAuthority == credential.certificateAuthority,
            endpoint.tlsServerName == credential.tlsServerName
        else {
            return .stalled(
                registration: credential.registration,
                error: ServiceError(
                    code: .siteConflict,
                    message: "the cluster entry of site \(entry.site) differs from its registration; register it again"))
        }
        let tokens = source(entry.site, credential)
        let stored = storedToken(entry.site, content.kubeconfig, content.annotations)
        return .managed(registration: credential.registration, dueAt: tokens.dueAt(stored, now: now))
    }

    /// The newest entry of `site` past the grace period that no PUT of ours is writing.
    private func newestSettled(
        of site: String, in entries: [SiteCredentialStore.Entry], registering: Set<String>, now: Date
    ) -> SiteCredentialStore.Entry? {
        entries.filter {
            $0.site == site && !registering.contains($0.credential.registration) && age(of: $0, now: now) > gracePeriod
        }
        .max { ($0.credential.createdAt ?? .distantPast) < ($1.credential.createdAt ?? .distantPast) }
    }

    private func age(of entry: SiteCredentialStore.Entry, now: Date) -> TimeInterval {
        entry.credential.createdAt.map { now.timeIntervalSince($0) } ?? .infinity
    }

    /// Removes each orphan by its registration (a newer registration of the site is never touched).
    private func removeOrphans(_ orphans: [SiteCredentialStore.Entry]) async -> Int {
        var removed = 0
        for orphan in orphans {
            do throws(ServiceError) {
                guard try await credentials.remove(site: orphan.site, registration: orphan.credential.registration)
                else { continue }
                removed += 1
                metrics.orphans.increment()
                report.withLock { $0.orphansRemoved += 1 }
                logger.notice(
                    "removed a bootstrap credential no site's record names (an interrupted registration or cleanup)",
                    metadata: ["site": "\(orphan.site.printable)", "key": "\(orphan.key)"])
            } catch {
                logger.warning(
                    "could not remove an orphaned bootstrap credential; trying again at the next check",
                    metadata: ["site": "\(orphan.site)", "error_code": "\(error.code)", "error": "\(error.message)"])
            }
        }
        return removed
    }

    /// Re-issues each site's token under the entry adopted for it (concurrently: a site that
    /// does not answer delays no other), if its record still names the registration that went
    /// missing.
    private func reissue(_ adopted: [String: (missing: String, entry: SiteCredentialStore.Entry)]) async {
        await withDiscardingTaskGroup { group in
            for (site, adoption) in adopted {
                group.addTask { await self.reissue(site, missing: adoption.missing, under: adoption.entry.credential) }
            }
        }
    }

    private func reissue(_ site: String, missing: String, under credential: ManagedCredential) async {
        let tokens = source(site, credential)
        do throws(ServiceError) {
            let published = try await tokens.token(for: StoredToken(token: nil, record: nil))
            let update = try await updater.update(
                DocumentEdit("re-issue the token of site \(site)") { (content: inout DocumentContent) throws(ServiceError) in
                    let key = TokenRecord.annotationKey(location: site)
                    guard content.annotations[key].flatMap(TokenRecord.init)?.credential == missing,
                        let user = content.kubeconfig.contexts.first(where: { $0.name == site })?.user
                    else { return }
                    content.kubeconfig.setToken(published.token, ofUser: user)
                    content.annotations[key] = published.record?.annotation
                })
            state.stored(update.document)
            guard update.changed else { return }
            metrics.reissued.increment()
            report.withLock { $0.reissued += 1 }
            transition(site) { $0.registrationEnded(credential.registration, renewsAt: published.renewsAt) }
            logger.notice(
                "re-issued a site's token: the registration its record named is gone from the credentials secret",
                metadata: ["site": "\(site)", "registration": "\(credential.registration)"])
        } catch {
            transition(site) { $0.observe(.stalled(registration: missing, error: error)) }
        }
    }
}
