import FoundationEssentials
import KubeconfigBase
import KubeconfigService
import KubernetesAPI
import NIOHTTP1

/// `kubeconfig-service site add`: one command that makes a cluster a managed site. On the
/// cluster, reached as the operator's context does, it keeps what `SiteOnboardingPlan` lists; it
/// mints the bootstrap account's first token there and registers the site with the service,
/// which issues and renews the deployer's tokens from then on.
///
/// Invariant: a run leaves the cluster as it found it, or registered. Nothing is written before
/// every object has been read and found missing or ours; when anything after the first write
/// fails (the service refusing the site, say), what this run created is deleted again.
public struct SiteOnboarding: Sendable {
    public struct Options: Sendable {
        /// The site's name.
        public var site: String
        /// Where both accounts live.
        public var namespace: String
        /// The deployer account.
        public var deployer = "kubeconfig-deployer"
        /// The ClusterRole the deployer is bound to.
        public var clusterRole = "edit"
        /// Whether that binding is cluster-wide.
        public var clusterWide = false
        /// Lifetime asked for the deployer's tokens, in seconds.
        public var tokenExpiration = 3600
        /// Lifetime asked for the bootstrap token, in seconds; the cluster may grant less.
        public var bootstrapExpiration = 2_592_000
        /// Print what would be created, and write nothing.
        public var dryRun = false
        /// Register the site even when the service holds the same cluster under another name.
        public var allowDuplicateCluster = false
        /// The registration's labels (what sinks' selectors choose sites by).
        public var labels: [String: String] = [:]

        public init(site: String, namespace: String) {
            self.site = site
            self.namespace = namespace
        }

        /// What is kept on the cluster.
        var plan: SiteOnboardingPlan.Options {
            var plan = SiteOnboardingPlan.Options(site: site, namespace: namespace)
            plan.deployer = deployer
            plan.clusterRole = clusterRole
            plan.clusterWide = clusterWide
            return plan
        }
    }

    let options: Options
    let context: OperatorKubeconfig.Context
    let service: ServiceCall
    let say: @Sendable (String) -> Void

    public init(
        options: Options, context: OperatorKubeconfig.Context, service: String, token: BearerToken,
        certificateAuthority: [UInt8]?, say: @escaping @Sendable (String) -> Void
    ) {
        self.options = options
        self.context = context
        self.service = ServiceCall(
            service: service, token: token, certificateAuthority: certificateAuthority, timeout: .seconds(60))
        self.say = say
    }

    /// Runs it; the summary to print last.
    public func run() async throws(ServiceClientError) -> String {
        let plan: SiteOnboardingPlan
        do {
            plan = try SiteOnboardingPlan(options.plan)
        } catch {
            throw ServiceClientError(description: error.message)
        }
        _ = try service.url("/sites")
        let site = options.plan.site
        let endpoint = try await Self.endpoint(of: context)
        let cluster = RemoteCluster(endpoint: endpoint)
        defer { Task { await cluster.shutdown() } }
        say("site \(site): cluster \(context.server.printable) as context \(context.name.printable)")

        // Read everything first: a refusal must come before the first write.
        var steps: [(RemoteObject, SiteOnboardingPlan.Step)] = []
        for object in plan.objects {
            let existing = try await cluster.get(object.path, what: object.description)
            do {
                steps.append((object, try plan.step(for: object, existing: existing)))
            } catch {
                say("refused \(object.description): not ours")
                throw ServiceClientError(description: error.message)
            }
        }
        let stale = plan.stale(try await cluster.labelled(site: site))
        let clusterID = try await cluster.clusterID(say: say)
        try await checkService(clusterID: clusterID)
        // A deployer bound cluster-wide says so, for sinks that would otherwise scope it (Argo CD).
        var registrationLabels = options.labels
        if options.clusterWide { registrationLabels["kubeconfig-service.onap.org/cluster-wide"] = "true" }
        let registration = Registration(
            server: context.server, certificateAuthority: context.certificateAuthority,
            tlsServerName: context.tlsServerName, namespace: options.plan.namespace,
            tokenRequest: .init(
                serviceAccount: options.plan.deployer, namespace: options.plan.namespace,
                expirationSeconds: options.tokenExpiration),
            clusterId: clusterID, allowDuplicateCluster: options.allowDuplicateCluster ? true : nil,
            labels: registrationLabels)
        if options.dryRun {
            return dryRun(steps, stale: stale, registration: registration)
        }

        var journal: [Undo] = []
        let summary: String
        do {
            for (object, step) in steps {
                try await apply(step, to: object, on: cluster, journal: &journal)
            }
            let bootstrap = try await cluster.mintBootstrap(options, say: say)
            var body = registration
            body.bootstrapToken = bootstrap.token.value
            summary = try await register(body, minted: bootstrap)
        } catch {
            if error.outcomeUnknown {
                say("kept what this run changed: whether the service registered the site is not known")
            } else {
                await rollBack(journal, on: cluster)
            }
            throw error
        }
        // Registered: what an earlier run kept for other flags goes, so the rights are the plan's.
        for object in stale {
            do {
                try await cluster.write(.DELETE, object.path, nil, what: "delete \(object.description)", missingIsFine: true)
                say("deleted \(object.description) (labelled for the site, no longer in its plan)")
            } catch {
                say("could not delete \(object.description), no longer in the site's plan: \(error.description)")
            }
        }
        return summary
    }

    /// How to undo one write of this run.
    enum Undo {
        /// Delete what was created, if it is still that object.
        case delete(RemoteObject, uid: String?)
        /// Write back what an update replaced, on the version the update made.
        case restore(RemoteObject, resourceVersion: String?)
        /// Delete what replaced an object (if it is still that one) and create the object again.
        case recreate(RemoteObject, replacedBy: String?)
    }

    /// Asks the service before anything is written: that it answers, that the caller may read its
    /// sites, and that no other site is this cluster (unless allowed). The registration may still
    /// be refused (the caller may read but not change the document); then the run is rolled back.
    private func checkService(clusterID: String?) async throws(ServiceClientError) {
        let body = try await SiteListing.fetch(
            service: service.service, token: service.token, certificateAuthority: service.certificateAuthority)
        let listing = try SiteListing(json: body)
        let site = options.site
        if let clusterID, !options.allowDuplicateCluster,
            let other = listing.sites.first(where: { $0.clusterId == clusterID && $0.name != site })
        {
            throw ServiceClientError(
                description: "this cluster (id \(clusterID.printable)) is already registered as site "
                    + "\(other.name.printable): remove that site first, or pass --allow-duplicate-cluster")
        }
    }

    // MARK: - Steps

    /// Applies `step`, noting in `journal` how to undo it.
    private func apply(
        _ step: SiteOnboardingPlan.Step, to object: RemoteObject, on cluster: RemoteCluster, journal: inout [Undo]
    ) async throws(ServiceClientError) {
        switch step {
        case .create:
            let written = try await cluster.write(
                .POST, object.collectionPath, object.body(), what: "create \(object.description)")
            journal.append(.delete(object, uid: RemoteCluster.uid(of: written)))
            say("created \(object.description)")
        case .keep(let ours):
            say("kept \(object.description)" + (ours ? "" : " (it was there before; never deleted by site remove)"))
        case .update(let updated, let resourceVersion, let previous):
            let written = try await cluster.write(
                .PUT, object.path, updated.body(resourceVersion: resourceVersion), what: "update \(object.description)")
            journal.append(.restore(previous, resourceVersion: RemoteCluster.resourceVersion(of: written)))
            say("updated \(object.description)")
        case .replace(let uid, let resourceVersion, let previous):
            // Only the version read is deleted; if the new one cannot be made, the old comes back.
            try await cluster.write(
                .DELETE, object.path, RemoteCluster.deleteOptions(uid: uid, resourceVersion: resourceVersion),
                what: "delete \(object.description)")
            let written: [UInt8]
            do {
                written = try await cluster.write(
                    .POST, object.collectionPath, object.body(), what: "create \(object.description)")
            } catch {
                _ = try? await cluster.write(
                    .POST, previous.collectionPath, previous.body(), what: "create \(previous.description) again")
                throw error
            }
            journal.append(.recreate(previous, replacedBy: RemoteCluster.uid(of: written)))
            say("replaced \(object.description) (its role changed)")
        }
    }

    /// Undoes this run's writes, newest first: what it created is deleted (only if it is still
    /// that object), what it changed is written back. What cannot be undone is named.
    private func rollBack(_ journal: [Undo], on cluster: RemoteCluster) async {
        for undo in journal.reversed() {
            do throws(ServiceClientError) {
                switch undo {
                case .delete(let object, let uid):
                    try await cluster.write(
                        .DELETE, object.path, uid.map { RemoteCluster.deleteOptions(uid: $0) },
                        what: "delete \(object.description)", missingIsFine: true)
                    say("removed \(object.description) (created by this run)")
                case .restore(let previous, let resourceVersion):
                    try await cluster.write(
                        .PUT, previous.path, previous.body(resourceVersion: resourceVersion),
                        what: "restore \(previous.description)")
                    say("restored \(previous.description) as it was")
                case .recreate(let previous, let replacedBy):
                    try await cluster.write(
                        .DELETE, previous.path, replacedBy.map { RemoteCluster.deleteOptions(uid: $0) },
                        what: "delete \(previous.description)", missingIsFine: true)
                    try await cluster.write(
                        .POST, previous.collectionPath, previous.body(), what: "create \(previous.description) again")
                    say("restored \(previous.description) as it was")
                }
            } catch {
                say("could not undo the change of this run: \(error.description); fix it by hand")
            }
        }
    }

    private func register(_ body: Registration, minted: IssuedToken) async throws(ServiceClientError) -> String {
        let site = options.plan.site
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = Array((try? encoder.encode(body)) ?? Data())
        let answer: ServiceCall.Answer
        do {
            answer = try await service.send(.PUT, "/sites/\(site)", json: json)
        } catch {
            // The service may have registered the site before the answer was lost: deleting its
            // accounts now could break a registered site. Everything is left for a second run.
            guard error.outcomeUnknown else { throw error }
            throw ServiceClientError(
                description: "\(error.description); the site may or may not be registered: run the same command "
                    + "again (it keeps what is there), or site remove \(site) --context ... to undo it",
                outcomeUnknown: true)
        }
        guard answer.status == 200 || answer.status == 201 else {
            say("the service refused the site: \(answer.status), \(ServiceCall.refusal(answer.body))")
            throw ServiceClientError(
                description: "the service refused site \(site) (\(answer.status) \(ServiceCall.refusal(answer.body)))"
                    + Self.bootstrapNote(minted))
        }
        say("registered site \(site) with the service (\(answer.status == 201 ? "created" : "replaced"))")
        let listing = try? await fetchSite(site)
        return listing ?? "site \(site) is registered\n"
    }

    /// The site as `site list` shows it, once its first health check is in, or after 10 s.
    private func fetchSite(_ site: String) async throws(ServiceClientError) -> String {
        let clock = ContinuousClock()
        let giveUp = clock.now + .seconds(10)
        while true {
            let answer = try await service.send(.GET, "/sites/\(site)")
            guard answer.status == 200 else { throw ServiceClientError(description: "GET /sites/\(site): \(answer.status)") }
            let listing = try SiteListing(site: answer.body)
            if listing.checked || clock.now >= giveUp { return listing.table(now: Date()) }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    private static func bootstrapNote(_ minted: IssuedToken) -> String {
        "; the bootstrap token minted for it was not stored anywhere and expires at "
            + "\(minted.expiresAt.formatted(.iso8601)) unless its account is deleted"
    }

    private func dryRun(
        _ steps: [(RemoteObject, SiteOnboardingPlan.Step)], stale: [RemoteObject], registration: Registration
    ) -> String {
        var out = ""
        for (object, step) in steps {
            switch step {
            case .keep(let ours):
                out += "# would keep \(object.description)\(ours ? "" : " (not ours)")\n"
            case .create:
                out += "# would create \(object.description)\n\(object.manifest())\n"
            case .update(let updated, _, _):
                out += "# would update \(object.description)\n\(updated.manifest())\n"
            case .replace:
                out += "# would replace \(object.description) (its role changed)\n\(object.manifest())\n"
            }
        }
        for object in stale {
            out += "# would delete \(object.description) once registered (labelled for the site, no longer in its plan)\n"
        }
        out +=
            "# would mint a token for serviceaccount \(options.plan.namespace)/\(options.plan.bootstrap) "
            + "(\(options.bootstrapExpiration) s) and register site \(options.plan.site): PUT /sites/\(options.plan.site)\n"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        var shown = registration
        shown.certificateAuthorityData = "(\(context.certificateAuthority.count) bytes of PEM)"
        shown.bootstrapToken = "(minted at registration)"
        out += String(decoding: (try? encoder.encode(shown)) ?? Data(), as: UTF8.self) + "\n"
        out += "# nothing was written (--dry-run)\n"
        return out
    }

    /// The registration's body, as `PUT /sites/{name}` reads it.
    struct Registration: Encodable {
        struct TokenRequest: Encodable {
            var serviceAccount: String
            var namespace: String
            var expirationSeconds: Int
        }
        var server: String
        var certificateAuthorityData: String
        var tlsServerName: String?
        var namespace: String
        var bootstrapToken: String?
        var tokenRequest: TokenRequest
        var clusterId: String?
        var allowDuplicateCluster: Bool?
        var labels: [String: String]?

        init(
            server: String, certificateAuthority: [UInt8], tlsServerName: String?, namespace: String,
            tokenRequest: TokenRequest, clusterId: String?, allowDuplicateCluster: Bool?, labels: [String: String]
        ) {
            self.server = server
            self.certificateAuthorityData = Data(certificateAuthority).base64EncodedString()
            self.tlsServerName = tlsServerName
            self.namespace = namespace
            self.tokenRequest = tokenRequest
            self.clusterId = clusterId
            self.allowDuplicateCluster = allowDuplicateCluster
            self.labels = labels.isEmpty ? nil : labels
        }
    }

    // MARK: - Reaching the cluster

    /// The endpoint the operator's context reaches its cluster with; an exec plugin is run once.
    static func endpoint(of context: OperatorKubeconfig.Context) async throws(ServiceClientError) -> ClusterEndpoint {
        let credential: ClusterEndpoint.Credential
        switch context.credential {
        case .token(let token): credential = .token(token)
        case .clientCertificate(let identity): credential = .clientCertificate(identity)
        case .exec(let plugin, let cluster, let directory):
            let result = try await plugin.run(cluster: cluster, kubeconfigDirectory: directory)
            if let token = result.token {
                credential = .token(token)
            } else if let identity = result.clientIdentity {
                credential = .clientCertificate(identity)
            } else {
                throw ServiceClientError(description: "\(plugin) gave no credential")
            }
        }
        return ClusterEndpoint(
            server: context.server, certificateAuthority: context.certificateAuthority,
            tlsServerName: context.tlsServerName, credential: credential)
    }
}
