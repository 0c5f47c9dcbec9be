import Foundation
import HTTPMessages
import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import Logging
import Synchronization
import TestFixtures
import Testing

@testable import KubeconfigRoutes
@testable import KubeconfigService

/// `PUT /sites/{name}` probes a site with a credential of its own before writing it: the answer
/// carries the probe (`health`) and, when it failed, a warning; `?verify=true` writes no site
/// whose probe failed (422, the probe's error).
@Suite struct SiteVerificationTests {
    /// Answers by server: `down.example` cannot be reached, `rejected.example` refuses the
    /// credential, any other server answers as `deployer`. Records what it probed.
    final class ScriptedProber: ClusterProbeAPI {
        let probed = Mutex<[ClusterEndpoint]>([])
        /// Probes of `slow.example` wait until this is set.
        let released = Mutex(false)

        func probe(_ endpoint: ClusterEndpoint) async -> ProbeReport {
            probed.withLock { $0.append(endpoint) }
            while endpoint.server.contains("slow.example"), !released.withLock({ $0 }) {
                try? await Task.sleep(for: .milliseconds(5))
            }
            if endpoint.server.contains("down.example") {
                return ProbeReport(
                    reachable: false, authenticated: nil, latency: .milliseconds(3),
                    error: ServiceError(code: .siteUnreachable, message: "\(endpoint.server) refused the connection"))
            }
            if endpoint.server.contains("rejected.example") {
                return ProbeReport(reachable: true, authenticated: false, latency: .milliseconds(4), error: nil)
            }
            return ProbeReport(reachable: true, authenticated: true, user: "deployer", latency: .milliseconds(5), error: nil)
        }

        func retain(_ endpoints: [ClusterEndpoint]) async {}
    }

    let store: InMemoryDocumentStore
    let prober = ScriptedProber()
    let service: PublishedRouter
    var router: ServiceRouter { service.router }
    static let ca = SiteFixtures.base64(SiteFixtures.caPEM)

    init() {
        service = PublishedRouter(prober: prober)
        store = service.store
    }

    static func body(server: String) -> [UInt8] {
        Array(#"{"server":"https://\#(server):6443","certificateAuthorityData":"\#(ca)","token":"secret-token-1"}"#.utf8)
    }

    func put(
        _ target: String, _ body: [UInt8], contentType: String = "application/json"
    ) async -> (status: Int, json: [String: Any], text: String) {
        let parts = target.split(separator: "?", maxSplits: 1)
        let query = parts.dropFirst().first.map { $0.split(separator: "&") } ?? []
        let request = HTTPServerRequest.make(
            method: "PUT", path: String(parts[0]),
            query: query.map { pair in
                let nameValue = pair.split(separator: "=", maxSplits: 1)
                return (String(nameValue[0]), nameValue.count > 1 ? String(nameValue[1]) : "")
            }, headers: [("Content-Type", contentType)], body: body)
        let response = await router.respond(to: request).response()
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
        return (response.status.code, json, String(decoding: response.body, as: UTF8.self))
    }

    func storedToken(of user: String) throws -> String? {
        try KubeconfigDocument(parsing: store.stored?.text ?? "", origin: "test").token(ofUser: user)
    }

    @Test func aHealthySiteIsWrittenWithItsProbeInTheAnswer() async throws {
        let answer = await put("/sites/edge-1", Self.body(server: "edge-1.example"))
        #expect(answer.status == 201)
        let health = try #require((answer.json["site"] as? [String: Any])?["health"] as? [String: Any])
        #expect(health["reachable"] as? Bool == true)
        #expect(health["authenticated"] as? Bool == true)
        #expect(health["user"] as? String == "deployer")
        #expect(answer.json["warnings"] == nil)
        // It probed what it then wrote: the body's server, CA and token.
        let probed = try #require(prober.probed.withLock { $0.first })
        #expect(probed.server == "https://edge-1.example:6443")
        #expect(probed.credential == .token(BearerToken("secret-token-1")))
        #expect(probed.certificateAuthority == SiteFixtures.caPEM)
        #expect(try storedToken(of: "edge-1") == "secret-token-1")
    }

    @Test(arguments: [("down.example", "SiteUnreachable"), ("rejected.example", "the site rejected its credential")])
    func aSiteWhoseProbeFailsIsWrittenWithAWarning(server: String, problem: String) async throws {
        let answer = await put("/sites/edge-1", Self.body(server: server))
        #expect(answer.status == 201)
        let warnings = try #require(answer.json["warnings"] as? [String])
        #expect(warnings.count == 1)
        #expect(warnings[0].contains(problem))
        #expect(warnings[0].contains("?verify=true"))
        let health = try #require((answer.json["site"] as? [String: Any])?["health"] as? [String: Any])
        #expect(health["reachable"] as? Bool == (server == "rejected.example"))
        #expect(try storedToken(of: "edge-1") == "secret-token-1")
    }

    @Test(arguments: ["down.example", "rejected.example"])
    func verifyWritesNoSiteWhoseProbeFails(server: String) async throws {
        let before = store.stored
        let answer = await put("/sites/edge-1?verify=true", Self.body(server: server))
        #expect(answer.status == 422)
        let error = try #require(answer.json["error"] as? [String: Any])
        #expect(error["code"] as? String == "SiteVerificationFailed")
        #expect((error["message"] as? String)?.contains("was not written: its probe failed") == true)
        #expect(store.stored == before)
        #expect(store.writes.isEmpty)
    }

    @Test func verifyWritesASiteWhoseProbeSucceeds() async throws {
        let answer = await put("/sites/edge-1?verify=true", Self.body(server: "edge-1.example"))
        #expect(answer.status == 201)
        #expect(try storedToken(of: "edge-1") == "secret-token-1")
    }

    @Test(arguments: ["verify=yes", "verify=1", "verify"])
    func aVerifyThatIsNotTrueOrFalseIsRefusedBeforeAnyProbe(query: String) async {
        let answer = await put("/sites/edge-1?\(query)", Self.body(server: "edge-1.example"))
        #expect(answer.status == 400)
        #expect(answer.text.contains("verify: must be true or false"))
        #expect(prober.probed.withLock { $0.isEmpty })
        #expect(store.writes.isEmpty)
    }

    @Test func aClientCertificateSiteIsProbedWithItsIdentity() async throws {
        let body = Array(
            #"{"server":"https://edge-1.example:6443","certificateAuthorityData":"\#(Self.ca)","clientCertificateData":"\#(SiteFixtures.base64(SiteFixtures.clientCertificatePEM))","clientKeyData":"\#(SiteFixtures.base64(SiteFixtures.clientKeyPEM))"}"#
                .utf8)
        let answer = await put("/sites/edge-1?verify=true", body)
        #expect(answer.status == 201)
        let probed = try #require(prober.probed.withLock { $0.first })
        guard case .clientCertificate = probed.credential else {
            Issue.record("probed with \(probed.credential), not the client certificate")
            return
        }
    }

    @Test func aKubeconfigIsVerifiedAsAJSONBodyIs() async throws {
        let kubeconfig = """
            apiVersion: v1
            kind: Config
            clusters:
            - {name: c, cluster: {server: 'https://down.example:6443', certificate-authority-data: \(Self.ca)}}
            users:
            - {name: u, user: {token: secret-token-1}}
            contexts:
            - {name: x, context: {cluster: c, user: u}}
            """
        let answer = await put("/sites/edge-1?verify=true", Array(kubeconfig.utf8), contentType: "application/yaml")
        #expect(answer.status == 422)
        #expect(store.writes.isEmpty)
    }

    @Test func withoutAProberVerifyRefusesRatherThanWritingUnverified() async throws {
        let service = PublishedRouter()
        let request = HTTPServerRequest.make(
            method: "PUT", path: "/sites/edge-1", query: [("verify", "true")],
            headers: [("Content-Type", "application/json")], body: Self.body(server: "edge-1.example"))
        let response = await service.router.respond(to: request).response()
        #expect(response.status.code == 422)
        #expect(service.store.writes.isEmpty)
    }

    /// The probe runs before the write, outside the update loop: a removal of the same site
    /// that lands while it runs is ordered before the registration, which then writes the site
    /// whole (the invariant: the document ends as one of the two orders would leave it).
    @Test func aRemovalDuringTheProbeIsOrderedBeforeTheRegistration() async throws {
        #expect(await put("/sites/edge-1", Self.body(server: "edge-1.example")).status == 201)
        let registering = Task { await put("/sites/edge-1", Self.body(server: "slow.example")).status }
        while prober.probed.withLock({ $0.count }) < 2 { try await Task.sleep(for: .milliseconds(5)) }
        let removal = await service.router.respond(to: .make(method: "DELETE", path: "/sites/edge-1")).response()
        #expect(removal.status == .ok)
        #expect(try storedToken(of: "edge-1") == nil)
        prober.released.withLock { $0 = true }
        #expect(await registering.value == 201)
        let document = try KubeconfigDocument(parsing: store.stored?.text ?? "", origin: "test")
        #expect(document.contexts.filter { $0.name == "edge-1" }.count == 1)
        #expect(
            document.entry(in: "clusters", named: "edge-1")?["cluster"]?["server"]?.stringValue == "https://slow.example:6443")
    }
}
