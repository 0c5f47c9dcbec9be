import CoreMetrics
import FoundationEssentials
import KubeconfigBase
import KubernetesAPI
import Logging
import Synchronization

/// Keeps one Secret per selected site in a namespace, in one format (`SinkKind`), equal to what
/// the served document says: level-triggered, after every document version and every change of
/// its Secrets.
///
/// Two loops: `follow()` lists and watches the namespace's Secrets labelled as this sink's (a
/// cache, as client-go's informer keeps one), and `converge()` runs a pass whenever the document
/// or the cache changes: `SinkDerivation` says what each site wants, `SinkReconciliation` what to
/// write, and each write is conditional (create; replace on the version read; delete on uid and
/// version). A conflict re-reads and passes again. Failures are the site's (`GET /sites`), never
/// the document's: the pass is retried with the project's `Backoff`, and nothing here touches
/// publication or readiness. Logs, errors and the status name sites and Secrets, never a
/// credential.
public final class SecretSink: Sendable {
    public struct Configuration: Sendable {
        /// Server-side timeout of one watch; each draws between this and twice this.
        public var watchTimeout: Duration = .seconds(300)
        /// Waits after failed passes and failed lists or watches.
        public var backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(30))
        /// A full pass at least this often, even without news.
        public var resync: Duration = .seconds(60)

        public init() {}
    }

    /// One site's Secret in this sink, as `GET /sites` shows it. Never its content.
    public struct SiteStatus: Sendable, Equatable, Encodable {
        public var secret: String
        public var namespace: String
        /// When this process last saw the Secret say what the document says.
        public var syncedAt: Date?
        /// When this process last wrote it.
        public var writtenAt: Date?
        /// Why the site is not written in this format (an exec user, say).
        public var skipped: String?
        public var error: ReportedError?
    }

    /// The sink as `/status` shows it.
    public struct Status: Sendable, Equatable, Encodable {
        public enum Phase: String, Sendable, Encodable {
            case starting, watching, reconnecting, failing
        }
        public var sink: SinkKind
        public var namespace: String
        /// The label selector over site labels; absent: every site.
        public var selector: String?
        /// The list and watch of the namespace's Secrets.
        public var state: Phase = .starting
        /// Sites selected, written (current), failing, skipped, at the last pass.
        public var sites = 0
        public var current = 0
        public var failing = 0
        public var skipped = 0
        public var lastPass: Date?
        /// The last failure of the list or watch, or of a pass's writes.
        public var lastError: ReportedError?
        /// Failed API calls since start (`kubeconfig_sink_write_failures_total`).
        public var failures = 0
    }

    public let derivation: SinkDerivation
    private let api: any SecretSinkAPI
    private let state: PublicationState
    private let configuration: Configuration
    private let logger: Logger
    private let wakeup = Wakeup()
    private let cache = Mutex(Cache())
    private let report: Mutex<(status: Status, sites: [String: SiteStatus])>
    private let metrics: Metrics

    private var sink: SinkConfiguration { derivation.sink }

    /// The namespace's Secrets labelled as this sink's, as the list and watch last said, and
    /// objects of wanted names that are not ours (found by a create that conflicted).
    private struct Cache {
        var objects: [String: SecretObject] = [:]
        var foreign: [String: SecretObject] = [:]
        var version: String?
        var listed = false
        /// Why the namespace cannot be listed, while it cannot.
        var listError: ServiceError?

        /// Takes `object` unless the cache holds a later version of it (our own write's answer
        /// may arrive before the watch's event of an earlier one).
        mutating func take(_ object: SecretObject) {
            if let held = objects[object.metadata.name], let old = UInt64(held.metadata.resourceVersion ?? ""),
                let new = UInt64(object.metadata.resourceVersion ?? ""), new < old
            {
                return
            }
            objects[object.metadata.name] = object
        }

        mutating func drop(_ name: String, version: String?) {
            if let held = objects[name], let old = UInt64(held.metadata.resourceVersion ?? ""),
                let new = UInt64(version ?? ""), new < old
            {
                return
            }
            objects[name] = nil
        }
    }

    private struct Metrics {
        let failures: Counter
        let creates: Counter
        let updates: Counter
        let deletes: Counter
        let failing: Gauge

        init(_ kind: SinkKind) {
            let sink = ("sink", kind.rawValue)
            failures = Counter(label: "kubeconfig_sink_write_failures_total", dimensions: [sink])
            creates = Counter(label: "kubeconfig_sink_writes_total", dimensions: [sink, ("operation", "create")])
            updates = Counter(label: "kubeconfig_sink_writes_total", dimensions: [sink, ("operation", "update")])
            deletes = Counter(label: "kubeconfig_sink_writes_total", dimensions: [sink, ("operation", "delete")])
            failing = Gauge(label: "kubeconfig_sink_sites_failing", dimensions: [sink])
        }
    }

    public init(
        derivation: SinkDerivation, api: any SecretSinkAPI, state: PublicationState,
        configuration: Configuration = Configuration(), logger: Logger
    ) {
        self.derivation = derivation
        self.api = api
        self.state = state
        self.configuration = configuration
        self.logger = logger
        self.metrics = Metrics(derivation.sink.kind)
        let selector = derivation.sink.selector.description
        self.report = Mutex(
            (
                Status(
                    sink: derivation.sink.kind, namespace: derivation.sink.namespace,
                    selector: selector.isEmpty ? nil : selector), [:]
            ))
        state.observeDocuments { [wakeup] in wakeup.signal() }
    }

    // MARK: - What it reports

    public var status: Status { report.withLock { $0.status } }

    /// The site's Secret in this sink; nil when the sink does not select the site.
    public func status(ofSite site: String) -> SiteStatus? {
        report.withLock { $0.sites[site] }
    }

    // MARK: - Running

    /// Follows the namespace and converges on every document version until cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.follow() }
            await self.converge()
            group.cancelAll()
        }
    }

    /// Runs passes: at news (a document version, a change of the namespace's Secrets), after a
    /// failed pass with backoff, and every `resync`.
    func converge() async {
        var failures = 0
        var rereads = 0
        while !Task.isCancelled {
            var outcome = await pass()
            if outcome == .again {
                // Conflicts re-read and pass again at once; objects that keep changing under each
                // pass (an editor fighting the service) are retried with backoff instead.
                rereads += 1
                if rereads <= Self.immediateRereads { continue }
                outcome = .failed
            }
            rereads = 0
            switch outcome {
            case .again, .done:
                failures = 0
                await wakeup.wait(for: configuration.resync)
            case .failed:
                failures += 1
                await wakeup.wait(for: configuration.backoff.wait(afterFailures: failures, jitter: .random(in: 0...1)))
            }
        }
    }

    enum PassOutcome { case done, again, failed }

    /// Passes run at once after conflicts, in a row, before backing off.
    static let immediateRereads = 5

    /// One pass: derive, decide, write (tests drive passes one by one).
    @discardableResult
    func pass() async -> PassOutcome {
        guard let published = state.published else { return .done }
        var plans = derivation.plans(for: published)
        // This service's own site carries the pod's own token unless it is issued for an account
        // of its own (--token-service-account): that account holds this sink's rights on every
        // Secret here, which a consumer of the Secret must not get.
        if plans[derivation.location] != nil, state.snapshot.token?.source != .tokenRequest {
            plans[derivation.location] = .skipped(
                "this service's own site is written only with a token issued for another account "
                    + "(serve --token-service-account): the pod's own token holds the sinks' rights")
        }
        let (listed, listError) = cache.withLock { ($0.listed, $0.listError) }
        guard listed else {
            // Nothing is decided without the namespace's contents: a delete needs them.
            if let listError { record(plans: plans, failed: listError.redacted(in: published)) }
            return listError == nil ? .done : .failed
        }
        await recheckForeign(plans)
        let observed = cache.withLock { cache in cache.foreign.merging(cache.objects) { _, ours in ours } }
        let decision = SinkReconciliation(
            plans: plans, observed: observed, kind: sink.kind, namespace: sink.namespace, document: derivation.document,
            version: published.resourceVersion)
        var errors: [String: ServiceError] = [:]
        var written: Set<String> = []
        var again = false
        for action in decision.actions {
            do throws(ServiceError) {
                if let site = try await execute(action) { written.insert(site) }
            } catch {
                if error.code == .apiConflict || error.code == .apiNotFound && !action.isCreate {
                    // Someone (a replica, an editor) changed it since the cache said: re-read it.
                    await reread(action.name)
                    again = true
                } else {
                    metrics.failures.increment()
                    report.withLock { $0.status.failures += 1 }
                    if let site = action.site { errors[site] = error.redacted(in: published) }
                }
            }
        }
        for (site, why) in decision.foreign {
            errors[site] = ServiceError(code: .sinkObjectNotOurs, message: why)
        }
        record(plans: plans, current: decision.current.union(written), written: written, errors: errors)
        if again { return .again }
        return errors.isEmpty ? .done : .failed
    }

    /// Runs one write; returns the site it brought up to date.
    private func execute(_ action: SinkReconciliation.Action) async throws(ServiceError) -> String? {
        let namespace = sink.namespace
        switch action {
        case .create(let secret):
            // One that the cache does not hold conflicts: a replica's (re-read, passed again) or
            // someone else's (re-read, never touched).
            let created = try await api.createSecret(secret.object(namespace: namespace), namespace: namespace)
            cache.withLock { $0.take(created) }
            metrics.creates.increment()
            logger.info("sink created secret", metadata: metadata(secret.name, site: secret.site))
            return secret.site
        case .replace(let secret, let version):
            let replaced = try await api.replaceSecret(
                secret.object(namespace: namespace, resourceVersion: version), namespace: namespace)
            cache.withLock { $0.take(replaced) }
            metrics.updates.increment()
            logger.info("sink updated secret", metadata: metadata(secret.name, site: secret.site))
            return secret.site
        case .delete(let name, let site, let uid, let version):
            do throws(ServiceError) {
                try await api.deleteSecret(namespace: namespace, name: name, uid: uid, resourceVersion: version)
            } catch  where error.code == .apiNotFound {
                cache.withLock { $0.drop(name, version: nil) }
                return nil
            }
            cache.withLock { $0.drop(name, version: nil) }
            metrics.deletes.increment()
            logger.info("sink deleted secret", metadata: metadata(name, site: site))
            return nil
        }
    }

    private func metadata(_ name: String, site: String?) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "sink": "\(sink.kind.rawValue)", "secret": "\(sink.namespace)/\(name)",
        ]
        if let site { metadata["site"] = "\(site)" }
        return metadata
    }

    /// The object `name` as it is now, into the cache (or out of it, when gone).
    private func reread(_ name: String) async {
        do throws(ServiceError) {
            let found = try await api.secret(namespace: sink.namespace, name: name)
            cache.withLock { cache in
                if SinkSecret.isOurs(found, kind: sink.kind, document: derivation.document) {
                    cache.take(found)
                } else if found.metadata.labels?[SinkSecret.sinkLabel] == sink.kind.rawValue {
                    cache.objects[name] = found
                } else {
                    cache.objects[name] = nil
                    cache.foreign[name] = found
                }
            }
        } catch  where error.code == .apiNotFound {
            cache.withLock { cache in
                cache.objects[name] = nil
                cache.foreign[name] = nil
            }
        } catch {
            logger.debug("sink could not re-read a secret", metadata: metadata(name, site: nil))
        }
    }

    /// Objects not ours that held a wanted name: still there? A removed one frees its name.
    private func recheckForeign(_ plans: [String: SitePlan]) async {
        let names = cache.withLock { Array($0.foreign.keys) }
        for name in names {
            let wanted = plans.values.contains { plan in
                if case .write(let secret) = plan { return secret.name == name }
                return false
            }
            guard wanted else {
                cache.withLock { $0.foreign[name] = nil }
                continue
            }
            await reread(name)
        }
    }

    /// Writes down what the pass found, site by site, and logs what changed.
    private func record(
        plans: [String: SitePlan], current: Set<String> = [], written: Set<String> = [],
        errors: [String: ServiceError] = [:], failed listError: ServiceError? = nil
    ) {
        let now = Date()
        let (logs, failing) = report.withLock { report -> ([(site: String, error: ServiceError?)], Int) in
            var sites: [String: SiteStatus] = [:]
            var changes: [(site: String, error: ServiceError?)] = []
            var counts = (current: 0, failing: 0, skipped: 0)
            for (site, plan) in plans {
                let before = report.sites[site]
                var status = SiteStatus(
                    secret: sink.kind.secretName(site: site), namespace: sink.namespace, syncedAt: before?.syncedAt,
                    writtenAt: before?.writtenAt)
                if case .skipped(let why) = plan {
                    status.skipped = why
                    counts.skipped += 1
                } else if let error = listError ?? errors[site] {
                    status.error = ReportedError(error)
                    counts.failing += 1
                } else if current.contains(site) {
                    status.syncedAt = now
                    if written.contains(site) { status.writtenAt = now }
                    counts.current += 1
                }
                if before?.error != status.error, status.skipped == nil {
                    changes.append((site, listError ?? errors[site]))
                }
                sites[site] = status
            }
            report.sites = sites
            report.status.sites = plans.count
            report.status.current = counts.current
            report.status.failing = counts.failing
            report.status.skipped = counts.skipped
            report.status.lastPass = now
            if let error = listError ?? errors.sorted(by: { $0.key < $1.key }).first?.value {
                report.status.lastError = ReportedError(error)
            }
            return (changes, counts.failing)
        }
        metrics.failing.record(failing)
        for (site, error) in logs {
            var metadata = metadata(sink.kind.secretName(site: site), site: site)
            if let error {
                metadata["code"] = "\(error.code.rawValue)"
                metadata["error"] = "\(error.message)"
                logger.warning("sink cannot write the site's secret", metadata: metadata)
            } else {
                logger.info("sink writes the site's secret again", metadata: metadata)
            }
        }
    }

    // MARK: - The namespace's Secrets

    /// Lists and watches the Secrets labelled as this sink's, as a reflector: list, watch from
    /// the list's version, resume from the last version seen; 410 lists again; failures back off.
    func follow() async {
        let selector = SinkSecret.selector(of: sink.kind)
        var failures = 0
        while !Task.isCancelled {
            do throws(ServiceError) {
                var version = cache.withLock { $0.version }
                if version == nil {
                    let list = try await api.listSecrets(namespace: sink.namespace, labelSelector: selector)
                    cache.withLock { cache in
                        cache.objects = Dictionary(
                            list.items.map { ($0.metadata.name, $0) }, uniquingKeysWith: { _, last in last })
                        cache.version = list.resourceVersion
                        cache.listed = true
                        cache.listError = nil
                    }
                    version = list.resourceVersion
                    wakeup.signal()
                }
                report.withLock { $0.status.state = .watching }
                let seconds = Int(configuration.watchTimeout.components.seconds)
                try await api.watchSecrets(
                    namespace: sink.namespace, labelSelector: selector, resourceVersion: version ?? "",
                    timeoutSeconds: .random(in: seconds...(2 * seconds))
                ) { event in
                    self.cache.withLock { cache in
                        switch event {
                        case .added(let object), .modified(let object):
                            cache.take(object)
                            cache.version = object.metadata.resourceVersion ?? cache.version
                        case .deleted(let object):
                            cache.drop(object.metadata.name, version: object.metadata.resourceVersion)
                            cache.version = object.metadata.resourceVersion ?? cache.version
                        case .bookmark(let version):
                            cache.version = version
                        }
                    }
                    if case .bookmark = event { return }
                    self.wakeup.signal()
                }
                failures = 0
            } catch {
                if error.code == .apiExpired {
                    cache.withLock { $0.version = nil }
                    continue
                }
                if error.code == .apiForbidden || error.code == .apiNotFound {
                    // A watch refused while the list is allowed: list again after the wait, so the
                    // cache is at most one backoff old (drift is then repaired that late).
                    cache.withLock { $0.version = nil }
                }
                failures += 1
                metrics.failures.increment()
                let listed = cache.withLock { cache in
                    if !cache.listed { cache.listError = error }
                    return cache.listed
                }
                report.withLock {
                    $0.status.state = listed ? .reconnecting : .failing
                    $0.status.lastError = ReportedError(error)
                    $0.status.failures += 1
                }
                if !listed { wakeup.signal() }
                logger.warning(
                    listed ? "sink watch failed; watching again" : "sink cannot list its namespace's secrets",
                    metadata: [
                        "sink": "\(sink.kind.rawValue)", "namespace": "\(sink.namespace)", "code": "\(error.code.rawValue)",
                        "error": "\(error.message)",
                    ])
                try? await Task.sleep(for: configuration.backoff.wait(afterFailures: failures, jitter: .random(in: 0...1)))
            }
        }
    }
}

extension SinkReconciliation.Action {
    var name: String {
        switch self {
        case .create(let secret), .replace(let secret, _): secret.name
        case .delete(let name, _, _, _): name
        }
    }

    var site: String? {
        switch self {
        case .create(let secret), .replace(let secret, _): secret.site
        case .delete(_, let site, _, _): site
        }
    }

    var isCreate: Bool {
        if case .create = self { return true }
        return false
    }
}

extension ServiceError {
    /// This error without any token of `published` in its message (an API server may quote what
    /// it was sent).
    fileprivate func redacted(in published: PublishedDocument) -> ServiceError {
        let document = published.document
        let tokens = document.contexts.compactMap { $0.user.flatMap(document.token(ofUser:)) }.map(BearerToken.init)
        guard !tokens.isEmpty else { return self }
        var copy = self
        copy.message = CredentialRedaction(tokens).redact(message)
        return copy
    }
}

extension ServiceError.Code {
    /// A sink's Secret name is held by an object that is not the sink's: it is left alone.
    public static let sinkObjectNotOurs = ServiceError.Code(rawValue: "SinkObjectNotOurs")
}
