import Foundation
import HTTPMessages
import KubeconfigBase
import KubeconfigService
import KubeconfigServiceTestSupport
import KubernetesAPI
import Logging
import MicroHTTPServer
import ServiceAssembly
import Synchronization
import TestFixtures
import Testing

/// The service as `serve` builds it, from a configuration, against a scripted API server: what
/// the configuration turns on, where it publishes, who it lets read, without a socket.
@Suite struct ServiceAssemblyTests {
    /// Remote sites that answer every probe and refuse every token request.
    struct Remotes: ClusterProbeAPI, RemoteTokenRequestAPI {
        func probe(_ endpoint: ClusterEndpoint) async -> ProbeReport {
            ProbeReport(reachable: true, authenticated: true, latency: .milliseconds(1))
        }

        func retain(_ endpoints: [ClusterEndpoint]) async {}

        func requestToken(
            at endpoint: ClusterEndpoint, namespace: String, serviceAccount: String, expirationSeconds: Int,
            audiences: [String]
        ) async throws(ServiceError) -> IssuedToken {
            throw ServiceError(code: .apiRejected, message: "no remote site in these tests")
        }
    }

    /// How many times the connections were shut down.
    final class Shutdowns: Sendable {
        let count = Mutex(0)
    }

    let api = ScriptedKubernetesAPI()
    let recorded = RecordedLines()
    let shutdowns = Shutdowns()

    var logger: Logger {
        Logger(label: "kubeconfig-service") { [sink = recorded.sink] in LineLogHandler(label: $0, format: .json, sink: sink) }
    }

    var connections: ClusterConnections {
        let site = StaticCredentials(
            cluster: ClusterCredentials(
                server: "https://10.96.0.1:443", certificateAuthority: Fixtures.caPEM, token: BearerToken("pod-token")))
        return ClusterConnections(home: api, site: site, remote: Remotes()) { [shutdowns] in
            shutdowns.count.withLock { $0 += 1 }
        }
    }

    func configuration(_ change: (inout ServeConfiguration) -> Void = { _ in }) -> ServeConfiguration {
        var publisher = PublisherConfiguration(namespace: "onap")
        publisher.location = "edge"
        var configuration = ServeConfiguration(publisher: publisher)
        change(&configuration)
        return configuration
    }

    func assemble(
        _ configuration: ServeConfiguration, metrics: (@Sendable () -> String)? = nil
    ) -> ServiceAssembly {
        ServiceAssembly(configuration: configuration, connections: connections, metrics: metrics, logger: logger)
    }

    func get(_ assembly: ServiceAssembly, _ path: String, token: String? = nil) async -> HTTPServerResponse {
        await send(assembly, "GET", path, headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
    }

    func send(
        _ assembly: ServiceAssembly, _ method: String, _ path: String, headers: [(name: String, value: String)] = [],
        body: String = ""
    ) async -> HTTPServerResponse {
        switch assembly.router.respond(to: .make(method: method, path: path, headers: headers, body: Array(body.utf8))) {
        case .response(let response): return response
        case .deferred(let work): return await work()
        }
    }

    /// The lines logged so far, as `level: message`.
    func logged() throws -> [String] {
        recorded.sink.flush()
        return try recorded.lines.map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
            return "\(object["level"] ?? "?"): \(object["msg"] ?? "?")"
        }
    }

    /// The messages logged so far.
    func messages() throws -> [String] {
        try logged().map { String($0.split(separator: ": ", maxSplits: 1)[1]) }
    }

    func serviceNames(_ assembly: ServiceAssembly) -> [String] {
        let server = HTTPServer(configuration: HTTPServerConfiguration(), responder: assembly.router, logger: logger)
        return assembly.services(serving: server).map(\.serviceName)
    }

    // MARK: - Publication and access

    @Test func itPublishesIntoTheObjectAndKeyTheConfigurationNames() async throws {
        api.put(.secrets, namespace: "onap", name: "edge-doc", data: ["other": "a2VlcA=="], version: "4")
        let assembly = assemble(
            configuration {
                $0.publisher.secretName = "edge-doc"
                $0.publisher.key = "config"
            })
        let result = try await assembly.publisher.publish()
        #expect(result.secret == "edge-doc" && result.key == "config" && result.resourceVersion == "5")
        let stored = try #require(api.object(.secrets, namespace: "onap", name: "edge-doc")?.data)
        #expect(stored["other"] == "a2VlcA==")
        let document = try #require(stored["config"].flatMap { Data(base64Encoded: $0) })
        let kubeconfig = String(decoding: document, as: UTF8.self)
        #expect(kubeconfig.contains("https://10.96.0.1:443") && kubeconfig.contains("pod-token"))
        #expect(kubeconfig.contains("current-context: edge"))
    }

    @Test func byDefaultCallersAreReviewedForTheDocumentsObject() async throws {
        api.put(namespace: "onap", name: "multisite-kubeconfig-configmap", data: nil)
        api.identify("reader-token", as: "reader", allowed: ["get"])
        api.identify("stranger-token", as: "stranger", allowed: [])
        let assembly = assemble(configuration())
        _ = try await assembly.publisher.publish()

        #expect(await get(assembly, "/kubeconfig").status.code == 401)
        #expect(await get(assembly, "/kubeconfig", token: "stranger-token").status.code == 403)
        let read = await get(assembly, "/kubeconfig", token: "reader-token")
        #expect(read.status.code == 200)
        #expect(String(decoding: read.body, as: UTF8.self).contains("current-context: edge"))
        #expect(
            api.calls.contains("SubjectAccessReview get configmaps/multisite-kubeconfig-configmap"), "\(api.calls)")
        #expect(try !messages().contains { $0.hasPrefix("authorisation is off") })
    }

    @Test func callersTokensMustBeForTheConfiguredAudience() async throws {
        api.put(namespace: "onap", name: "multisite-kubeconfig-configmap", data: nil)
        api.identify("ours", as: "reader", allowed: ["get"], audiences: ["kubeconfig-service"])
        api.identify("theirs", as: "reader", allowed: ["get"], audiences: ["vault"])
        let assembly = assemble(configuration { $0.authTokenAudiences = ["kubeconfig-service"] })
        _ = try await assembly.publisher.publish()
        #expect(await get(assembly, "/kubeconfig", token: "ours").status.code == 200)
        #expect(await get(assembly, "/kubeconfig", token: "theirs").status.code == 401)
    }

    @Test func withAuthNoneAnyoneMayReadAndTheWarningIsLogged() async throws {
        api.put(namespace: "onap", name: "multisite-kubeconfig-configmap", data: nil)
        let assembly = assemble(configuration { $0.auth = .none })
        #expect(assembly.reviewer == nil)
        _ = try await assembly.publisher.publish()
        #expect(await get(assembly, "/kubeconfig").status.code == 200)
        #expect(
            try logged().contains(
                "warning: authorisation is off (--auth none): anyone who can reach this port can read the kubeconfig and "
                    + "its token"))
    }

    @Test func remoteSitesAreRegisteredIntoThePublishedDocument() async throws {
        api.put(namespace: "onap", name: "multisite-kubeconfig-configmap", data: nil)
        let assembly = assemble(configuration { $0.auth = .none })
        _ = try await assembly.publisher.publish()
        let ca = SiteFixtures.base64(SiteFixtures.caPEM)
        let registered = await send(
            assembly, "PUT", "/sites/site-a", headers: [("Content-Type", "application/json")],
            body: #"{"server":"https://site-a.example:6443","certificateAuthorityData":"\#(ca)","token":"site-a-token"}"#)
        #expect(registered.status.code == 201)
        let stored = try #require(api.object(namespace: "onap", name: "multisite-kubeconfig-configmap")?.data)
        let document = try #require(stored["kubeconfig"])
        #expect(document.contains("site-a-token") && document.contains("current-context: edge"))
        #expect(String(decoding: await get(assembly, "/kubeconfig").body, as: UTF8.self).contains("site-a-token"))
    }

    @Test func anIssuedTokenIsRequestedForTheConfiguredAccount() async throws {
        api.put(namespace: "onap", name: "multisite-kubeconfig-configmap", data: nil)
        let assembly = assemble(
            configuration {
                $0.issuedTokens = IssuedTokenSource.Configuration(namespace: "onap", serviceAccount: "publisher")
            })
        let result = try await assembly.publisher.publish()
        #expect(result.tokenSource == .tokenRequest)
        #expect(api.calls.contains("TokenRequest onap/publisher"), "\(api.calls)")
        let stored = try #require(api.object(namespace: "onap", name: "multisite-kubeconfig-configmap")?.data)
        #expect(stored["kubeconfig"]?.contains("token-1") == true)
    }

    @Test func metricsAreServedFromWhatTheAssemblyIsGiven() async {
        let with = assemble(configuration(), metrics: { "kubeconfig_up 1\n" })
        let metrics = await get(with, "/metrics")
        #expect(metrics.status.code == 200)
        #expect(String(decoding: metrics.body, as: UTF8.self) == "kubeconfig_up 1\n")
        #expect(await get(assemble(configuration()), "/metrics").status.code == 404)
    }

    // MARK: - What runs

    @Test func byDefaultTheWatchAndTheProbesRunButNoRenewer() {
        let assembly = assemble(configuration())
        #expect(assembly.watcher != nil && assembly.monitor != nil && assembly.renewer == nil)
        #expect(serviceNames(assembly) == ["publication-schedule", "document-watch", "site-probes", "http-server"])
    }

    @Test func aCredentialsSecretAddsTheRenewerAndZeroIntervalsTurnPartsOff() {
        let assembly = assemble(
            configuration {
                $0.credentialsSecret = "site-credentials"
                $0.siteProbeInterval = nil
                $0.watch = false
            })
        #expect(assembly.watcher == nil && assembly.monitor == nil && assembly.renewer != nil)
        #expect(serviceNames(assembly) == ["publication-schedule", "site-token-renewal", "http-server"])
    }
}
