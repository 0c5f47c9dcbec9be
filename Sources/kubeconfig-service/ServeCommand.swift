import ArgumentParser
import FoundationEssentials
import KubeconfigBase
import KubeconfigRoutes
import KubeconfigService
import MicroHTTPServer
import ServiceAssembly

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Publish at start-up, keep the entries current, and serve the HTTP API.",
        discussion: """
            Routes: GET /sites, GET|PUT|DELETE /sites/<name>, POST /sites/<location>, GET /kubeconfig, GET /status, \
            GET /healthz, /readyz, /livez, /metrics.
            With --auth kubernetes (the default) callers of /kubeconfig, /status and /sites need a bearer token \
            that may get (to read) or patch (to change) the document's ConfigMap or Secret, checked by TokenReview \
            and SubjectAccessReview.
            """)

    @OptionGroup var options: CommonOptions

    @Option(help: "Address to listen on: an IPv4 or IPv6 literal (0.0.0.0, ::, ::1).")
    var address: String = "0.0.0.0"

    @Option(help: "Port to listen on (0 picks a free one and logs it).")
    var port: UInt16 = 8080

    @Option(help: "Who may read the document and trigger publication: kubernetes (TokenReview + SubjectAccessReview) or none.")
    var auth: ServeConfiguration.AuthMode = .kubernetes

    @Option(
        name: .customLong("auth-token-audience"),
        help: """
            With --auth kubernetes, callers' tokens must be issued for this audience (repeatable: one of these), \
            checked by TokenReview, so that a token minted for another service cannot be replayed here.
            """)
    var authTokenAudiences: [String] = []

    @Option(
        help: """
            Seconds between passes that re-read the token and CA and repair the entries (0 disables them; an issued \
            token is still renewed on time).
            """)
    var refreshInterval: Int = 60

    @Flag(
        inversion: .prefixedNo,
        help: """
            Watch the document's ConfigMap or Secret: other writers' changes are served at once and our entries \
            repaired at once (needs list and watch on that object; without them, the refresh pass does it).
            """)
    var watch = true

    @Option(
        help: """
            Seconds between health probes of every site in the document, each with its own server, CA and \
            credential (0 turns them off).
            """)
    var siteProbeInterval: Int = 60

    @Option(
        help: """
            Site probes holding a slot at once, at most (a probe unanswered after half a second gives its slot up \
            and goes on until --api-timeout).
            """)
    var siteProbeConcurrency: Int = 8

    @Option(
        help: """
            Secret (in --namespace) that keeps managed sites' bootstrap credentials, one key per registration; \
            never created here. Without it, sites can only be registered with a credential of their own.
            """)
    var credentialsSecret: String?

    @Option(
        help: """
            Seconds a bootstrap credential no site's record names is kept in the credentials Secret before it is \
            removed (a registration must name its credential within half of it); the invariants are checked every \
            third of it.
            """)
    var credentialGracePeriod: Int = 30

    @Option(
        help: """
            Longest lifetime, in seconds, of a token a caller asks for with POST /sites/NAME/token (longer asks \
            get this); 600 (TokenRequest's minimum) to 86400.
            """)
    var maxCredentialExpiration: Int = 3600

    @Option(help: "Tokens one caller may ask of one site a minute (POST /sites/NAME/token); more get 429.")
    var credentialRequestsPerMinute: Int = 30

    @Option(
        help: """
            The URL callers reach this service at (https://...): the exec credential plugin of \
            GET /kubeconfig?site=NAME&credentials=exec asks it for tokens. Without it, that form is refused.
            """)
    var publicURL: String?

    @Option(
        help: """
            Namespace to keep one Argo CD cluster Secret per site in (cluster-SITE, labelled \
            argocd.argoproj.io/secret-type: cluster). Needs get, list, watch, create, update and delete on secrets there.
            """)
    var argocdSecrets: String?

    @Option(help: "Label selector over site labels choosing the sites --argocd-secrets gets (default: all).")
    var argocdSecretsSelector: String?

    @Option(
        help: """
            Namespace to keep one kubeconfig Secret per site in (SITE-kubeconfig, key value: Cluster API's \
            convention, which Flux's kubeConfig.secretRef reads). Needs the same rights as --argocd-secrets.
            """)
    var kubeconfigSecrets: String?

    @Option(help: "Label selector over site labels choosing the sites --kubeconfig-secrets gets (default: all).")
    var kubeconfigSecretsSelector: String?

    @Option(
        help: """
            A label of this service's own site, KEY=VALUE (repeatable): copied onto its sinks' Secrets and matched by \
            the sinks' selectors, as a remote site's registration labels are.
            """)
    var siteLabel: [String] = []

    @Option(help: "PEM certificate chain: serve HTTPS with it (needs --tls-key-file).")
    var tlsCertFile: String?

    @Option(help: "PEM private key of --tls-cert-file.")
    var tlsKeyFile: String?

    @Option(help: "Seconds between checks of --tls-cert-file and --tls-key-file for a renewed certificate.")
    var tlsReloadInterval: Int = 10

    @Option(help: "Seconds a connection may stay idle or stall mid-request before it is closed.")
    var connectionTimeout: Int = 30

    @Option(help: "Connections open at once; more wait in the listen backlog.")
    var maxConnections: Int = 1024

    @Option(help: "Threads serving HTTP connections (default: the CPU cores, at most 64).")
    var threads: Int?

    func validate() throws {
        guard !authTokenAudiences.contains(where: \.isEmpty) else {
            throw ValidationError("--auth-token-audience must not be empty")
        }
        guard authTokenAudiences.isEmpty || auth == .kubernetes else {
            throw ValidationError("--auth-token-audience needs --auth kubernetes")
        }
        guard refreshInterval >= 0 else { throw ValidationError("--refresh-interval must be 0 or more seconds") }
        if let credentialsSecret, credentialsSecret.isEmpty {
            throw ValidationError("--credentials-secret must not be empty")
        }
        guard (2...3600).contains(credentialGracePeriod) else {
            throw ValidationError("--credential-grace-period must be between 2 and 3600 seconds")
        }
        guard (600...86400).contains(maxCredentialExpiration) else {
            throw ValidationError("--max-credential-expiration must be between 600 and 86400 seconds")
        }
        guard (1...10000).contains(credentialRequestsPerMinute) else {
            throw ValidationError("--credential-requests-per-minute must be between 1 and 10000")
        }
        if let publicURL, !CredentialPlugin.sendsTokensSafely(to: publicURL) {
            throw ValidationError("--public-url must be an https URL (http only on loopback): the plugin sends tokens to it")
        }
        guard siteProbeInterval >= 0 else { throw ValidationError("--site-probe-interval must be 0 or more seconds") }
        guard (1...64).contains(siteProbeConcurrency) else {
            throw ValidationError("--site-probe-concurrency must be between 1 and 64")
        }
        guard (tlsCertFile == nil) == (tlsKeyFile == nil) else {
            throw ValidationError("--tls-cert-file and --tls-key-file go together")
        }
        if let threads, !(1...64).contains(threads) {
            throw ValidationError("--threads must be between 1 and 64")
        }
        guard (1...3600).contains(connectionTimeout) else {
            throw ValidationError("--connection-timeout must be between 1 and 3600 seconds")
        }
        guard (1...100_000).contains(maxConnections) else {
            throw ValidationError("--max-connections must be between 1 and 100000")
        }
        guard tlsReloadInterval > 0 else { throw ValidationError("--tls-reload-interval must be at least 1 second") }
        _ = try sinks()
        _ = try siteLabels()
    }

    /// `--argocd-secrets` and `--kubeconfig-secrets`, with their selectors.
    func sinks() throws -> [SinkConfiguration] {
        var sinks: [SinkConfiguration] = []
        let flags: [(SinkKind, String?, String?, String)] = [
            (.argocd, argocdSecrets, argocdSecretsSelector, "--argocd-secrets"),
            (.kubeconfig, kubeconfigSecrets, kubeconfigSecretsSelector, "--kubeconfig-secrets"),
        ]
        for (kind, namespace, selector, flag) in flags {
            guard let namespace else {
                if selector != nil { throw ValidationError("\(flag)-selector needs \(flag)") }
                continue
            }
            guard SinkConfiguration.isNamespace(namespace) else {
                throw ValidationError("\(flag) must name a namespace (a DNS-1123 label)")
            }
            do throws(ServiceError) {
                let parsed = try selector.map(LabelSelector.init(parsing:)) ?? .everything
                sinks.append(SinkConfiguration(kind: kind, namespace: namespace, selector: parsed))
            } catch {
                throw ValidationError("\(flag)-selector: \(error.message)")
            }
        }
        return sinks
    }

    /// `--site-label KEY=VALUE ...`.
    func siteLabels() throws -> [String: String] {
        var labels: [String: String] = [:]
        for text in siteLabel {
            guard let equals = text.firstIndex(of: "=") else { throw ValidationError("--site-label must be KEY=VALUE") }
            let key = String(text[..<equals])
            guard labels[key] == nil else { throw ValidationError("--site-label \(key) is given more than once") }
            labels[key] = String(text[text.index(after: equals)...])
        }
        do throws(ServiceError) {
            try SiteLabels.check(labels, field: "--site-label")
        } catch {
            throw ValidationError(error.message)
        }
        return labels
    }

    func run() async throws {
        let logger = options.bootstrapLogging()
        // Log lines are written by a thread of their own: every one is out before the process ends.
        defer { LogSink.standardError.flush() }
        let metrics = PrometheusMetrics.bootstrap()
        let configuration = try serveConfiguration()
        let connections = ClusterConnections.inCluster(
            discovery: options.discovery, requestTimeout: options.apiTimeoutDuration, logger: logger)
        let assembly = ServiceAssembly(
            configuration: configuration, connections: connections, metrics: metrics, logger: logger)
        let server: HTTPServer
        do {
            server = try assembly.listen()
        } catch  where error.code == .tlsFilesUnreadable {
            throw ValidationError(error.message)
        } catch {
            LogSink.standardError.write("error: \(error.message)\n")
            throw ExitCode.failure
        }
        try await assembly.serve(on: server)
    }

    /// What the flags decide; exits when the namespace cannot be resolved.
    private func serveConfiguration() throws -> ServeConfiguration {
        let publisher: PublisherConfiguration
        do throws(ServiceError) {
            publisher = try options.publisherConfiguration()
        } catch {
            LogSink.standardError.write("error: \(error.code): \(error.message)\n")
            throw ExitCode.failure
        }
        var configuration = ServeConfiguration(publisher: publisher)
        configuration.issuedTokens = options.issuedTokens(namespace: publisher.namespace)
        configuration.auth = auth
        configuration.authTokenAudiences = authTokenAudiences
        configuration.refreshInterval = refreshInterval > 0 ? .seconds(refreshInterval) : nil
        configuration.watch = watch
        configuration.siteProbeInterval = siteProbeInterval > 0 ? .seconds(siteProbeInterval) : nil
        configuration.siteProbeConcurrency = siteProbeConcurrency
        configuration.credentialsSecret = credentialsSecret
        configuration.credentialGracePeriod = TimeInterval(credentialGracePeriod)
        configuration.callerTokenLifetimes.maxSeconds = maxCredentialExpiration
        configuration.callerTokensPerMinute = credentialRequestsPerMinute
        configuration.publicURL = publicURL
        configuration.sinks = try sinks()
        configuration.siteLabels = try siteLabels()
        configuration.server.address = address
        configuration.server.port = port
        configuration.server.threadCount = threads ?? min(max(1, ProcessInfo.processInfo.activeProcessorCount), 64)
        configuration.server.connectionTimeoutSeconds = connectionTimeout
        configuration.server.connectionLimit = maxConnections
        if let tlsCertFile, let tlsKeyFile {
            configuration.tls = TLSFiles(certificate: tlsCertFile, key: tlsKeyFile)
        }
        configuration.tlsReloadInterval = .seconds(tlsReloadInterval)
        return configuration
    }
}

extension ServeConfiguration.AuthMode: ExpressibleByArgument {}
