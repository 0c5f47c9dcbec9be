import Foundation
import KubeconfigBase
import Logging
import NIOCore
import TestFixtures
import Testing

@testable import KubernetesAPI

/// The probe's URL rewriting for `tls-server-name`, and its causes for failed connections.
@Suite struct RemoteClustersTests {
    static func endpoint(_ server: String, tlsServerName: String? = nil) -> ClusterEndpoint {
        ClusterEndpoint(server: server, certificateAuthority: [], tlsServerName: tlsServerName, credential: .unsupported("none"))
    }

    @Test func aTLSServerNameIsRequestedAndTheServersHostConnectedTo() throws {
        let plain = try RemoteClusters.target(Self.endpoint("https://10.0.0.1:6443/"))
        #expect(plain.base == "https://10.0.0.1:6443" && plain.dnsOverride == nil)
        let named = try RemoteClusters.target(Self.endpoint("https://10.0.0.1:6443", tlsServerName: "api.internal"))
        #expect(named.base == "https://api.internal:6443")
        #expect(named.dnsOverride == ["api.internal": "10.0.0.1"])
        let ipv6 = try RemoteClusters.target(
            Self.endpoint("https://[fd00::1]:443/k8s/clusters/c-1", tlsServerName: "api.internal"))
        #expect(ipv6.base == "https://api.internal:443/k8s/clusters/c-1")
        #expect(ipv6.dnsOverride == ["api.internal": "fd00::1"])
        let noPort = try RemoteClusters.target(Self.endpoint("https://edge.example", tlsServerName: "api.internal"))
        #expect(noPort.base == "https://api.internal" && noPort.dnsOverride == ["api.internal": "edge.example"])
    }

    @Test func aRefusedConnectionIsNamedSo() async {
        // Port 1 on loopback: nothing listens there, and the kernel answers with a reset.
        let probe = RemoteClusters(timeout: .seconds(5), logger: Logger(label: "test"))
        let report = await probe.probe(
            ClusterEndpoint(
                server: "https://127.0.0.1:1", certificateAuthority: Array(Self.ca.utf8), credential: .unsupported("none")))
        await probe.shutdown()
        #expect(report.reachable == false)
        #expect(report.error?.code == .siteConnectionRefused)
    }

    @Test func errorsThatMightQuoteARequestSayNothingOfIt() {
        struct Quoting: Error, CustomStringConvertible { var description: String { "Bearer secret-token" } }
        let error = RemoteClusters.transportError(TransportFailure(Quoting()), server: "https://edge:6443")
        #expect(error.code == .siteUnreachable)
        #expect(!error.message.contains("secret-token") && !error.message.contains("Quoting"))
        let refused = RemoteClusters.transportError(
            TransportFailure(IOError(errnoCode: 111, reason: "connect")), server: "https://e:1")
        #expect(refused.code == .siteConnectionRefused && refused.message == "https://e:1 refused the connection")
        let reset = RemoteClusters.transportError(
            TransportFailure(IOError(errnoCode: 104, reason: "read(descriptor:pointer:size:)")), server: "https://e:1")
        #expect(reset.code == .siteUnreachable && reset.message == "cannot reach https://e:1: connection reset by peer")
    }

    /// A 403 whose Status echoes the bootstrap token, as a hostile remote (or a proxy) might.
    static func refusal(echoing text: String) -> String {
        let body =
            #"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"#
            + #""message":"serviceaccounts \"deployer\" is forbidden: you sent \#(text)"}"#
        return "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    static func requestToken(from server: LoopbackServer, bootstrap: BearerToken) async -> ServiceError? {
        let remotes = RemoteClusters(timeout: .seconds(5), logger: Logger(label: "test"))
        var failure: ServiceError?
        do {
            _ = try await remotes.requestToken(
                at: ClusterEndpoint(
                    server: server.url, certificateAuthority: Array(CertificateFixtures.siteCA.utf8),
                    credential: .token(bootstrap)),
                namespace: "apps", serviceAccount: "deployer", expirationSeconds: 3600, audiences: [])
        } catch {
            failure = error
        }
        await remotes.shutdown()
        return failure
    }

    @Test func aTokenRequestRefusalQuotesTheStatusWithoutTheBootstrapToken() async throws {
        let bootstrap = BearerToken("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib290c3RyYXAifQ.bootstrap-signature-bytes")
        let echoed = [UInt8]("Authorization: Bearer \(bootstrap.value)".utf8)
        let server = try await LoopbackServer.start(
            .https(certificate: CertificateFixtures.valid, answer: Self.refusal(echoing: base64(echoed))))
        let error = try #require(await Self.requestToken(from: server, bootstrap: bootstrap))
        await server.stop()
        #expect(error.code == .apiForbidden)
        #expect(error.message == #"forbidden: serviceaccounts "deployer" is forbidden: you sent <redacted>"#)
    }

    @Test func aRefusalThatIsNotAStatusIsOnlyDescribed() async throws {
        let bootstrap = BearerToken("bootstrap-token-0123456789")
        let body = "<html>denied for \(bootstrap.value)</html>"
        let server = try await LoopbackServer.start(
            .https(
                certificate: CertificateFixtures.valid,
                answer: "HTTP/1.1 403 Forbidden\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"))
        let error = try #require(await Self.requestToken(from: server, bootstrap: bootstrap))
        await server.stop()
        #expect(error.code == .apiForbidden)
        #expect(error.message == "forbidden: HTTP 403 with a body that is not a Kubernetes Status (\(body.utf8.count) bytes)")
    }

    @Test func aProbesUnexpectedAnswerIsDescribedNotQuoted() async throws {
        let token = BearerToken("probe-token-0123456789")
        let body = #"{"error":"\#(token.value)"}"#
        let server = try await LoopbackServer.start(
            .https(
                certificate: CertificateFixtures.valid,
                answer: "HTTP/1.1 500 Oops\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"))
        let remotes = RemoteClusters(timeout: .seconds(5), logger: Logger(label: "test"))
        let report = await remotes.probe(
            ClusterEndpoint(
                server: server.url, certificateAuthority: Array(CertificateFixtures.siteCA.utf8), credential: .token(token)))
        await remotes.shutdown()
        await server.stop()
        #expect(report.error?.code == .siteProbeFailed)
        #expect(
            report.error?.message
                == "\(server.url) answered HTTP 500 with a body that is not a Kubernetes Status (\(body.utf8.count) bytes)")
    }

    @Test func aUserNameTheRemoteMakesOfTheCredentialIsRedacted() async throws {
        let token = BearerToken("probe-token-0123456789")
        let body = #"{"status":{"userInfo":{"username":"system:\#(token.value)"}}}"#
        let server = try await LoopbackServer.start(
            .https(
                certificate: CertificateFixtures.valid,
                answer: "HTTP/1.1 201 Created\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"))
        let remotes = RemoteClusters(timeout: .seconds(5), logger: Logger(label: "test"))
        let report = await remotes.probe(
            ClusterEndpoint(
                server: server.url, certificateAuthority: Array(CertificateFixtures.siteCA.utf8), credential: .token(token)))
        await remotes.shutdown()
        await server.stop()
        #expect(report.authenticated == true && report.user == "system:<redacted>")
    }

    private func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// A CA certificate (any will do: nothing is verified against it here).
    static let ca = String(decoding: SiteFixtures.caPEM, as: UTF8.self)
}
