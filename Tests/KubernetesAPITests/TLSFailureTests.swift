import Foundation
import KubeconfigBase
import Logging
import NIOSSL
import TestFixtures
import Testing

@testable import KubernetesAPI

/// Each way a TLS connection to a site (or the home API server) fails, against a loopback
/// server, named by its cause in words, with no library internals or paths.
@Suite struct TLSFailureTests {
    static let siteCA = Array(CertificateFixtures.siteCA.utf8)

    /// What no message may hold: NIOSSL's and BoringSSL's names, their error stack, source
    /// files and the build tree's paths.
    static func expectNoInternals(_ message: String, server: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for marker in [".build", ".swift:", ".cc:", "BoringSSL", "NIOSSL", "error:1", "Error:", "handshakeFailed", "sslError"] {
            #expect(!message.contains(marker), "\(marker) in: \(message)", sourceLocation: sourceLocation)
        }
        // The server's URL is the only place a slash may appear: no path, rooted or not.
        #expect(!message.replacingOccurrences(of: server, with: "").contains("/"), "\(message)", sourceLocation: sourceLocation)
    }

    static func probe(_ behaviour: LoopbackServer.Behaviour, tlsServerName: String? = nil) async throws -> (ProbeReport, String) {
        let server = try await LoopbackServer.start(behaviour)
        let url = server.url
        let remotes = RemoteClusters(timeout: .seconds(10), logger: Logger(label: "test"))
        let report = await remotes.probe(
            ClusterEndpoint(
                server: url, certificateAuthority: siteCA, tlsServerName: tlsServerName,
                credential: .token(BearerToken("probe-token-value"))))
        await remotes.shutdown()
        await server.stop()
        return (report, url)
    }

    // MARK: - The control

    @Test func aCertificateOfTheSitesCAForItsAddressIsReached() async throws {
        let (report, _) = try await Self.probe(.https(certificate: CertificateFixtures.valid))
        #expect(report.reachable, "\(String(describing: report.error))")
    }

    // MARK: - Not TLS at all

    @Test(arguments: [LoopbackServer.Behaviour.plainHTTP, .sshBanner])
    func aPortThatDoesNotSpeakTLSIsNamedSo(behaviour: LoopbackServer.Behaviour) async throws {
        let (report, server) = try await Self.probe(behaviour)
        let error = try #require(report.error)
        #expect(error.code == .siteNotTLS, "\(error)")
        #expect(error.message.contains("does not speak TLS"))
        Self.expectNoInternals(error.message, server: server)
    }

    @Test func aServerClosingDuringTheHandshakeSaysSo() async throws {
        let (report, server) = try await Self.probe(.closing)
        let error = try #require(report.error)
        #expect(error.code == .siteTLSHandshakeFailed, "\(error)")
        #expect(error.message == "\(server) closed the connection during the TLS handshake")
    }

    // MARK: - Certificates refused

    @Test func aCertificateOfAnotherCANamesItsIssuer() async throws {
        let (report, server) = try await Self.probe(.https(certificate: CertificateFixtures.fromOtherCA))
        let error = try #require(report.error)
        #expect(error.code == .siteTLSFailed)
        #expect(
            error.message
                == #"TLS with \#(server) failed: its certificate is not signed by the site's CA: it names "CN=another-ca" as its issuer"#
        )
        Self.expectNoInternals(error.message, server: server)
    }

    @Test func aCertificateOfAnotherCAOfTheSameNameIsToldApartByItsKey() async throws {
        let (report, server) = try await Self.probe(.https(certificate: CertificateFixtures.fromSameNamedCA))
        let error = try #require(report.error)
        #expect(error.code == .siteTLSFailed)
        #expect(
            error.message.hasSuffix(#"is not signed by the site's CA but by another CA of the same name "CN=fixture-site-ca""#))
        Self.expectNoInternals(error.message, server: server)
    }

    @Test func anExpiredCertificateSaysWhen() async throws {
        let (report, server) = try await Self.probe(.https(certificate: CertificateFixtures.expired))
        let error = try #require(report.error)
        #expect(error.code == .siteTLSFailed)
        #expect(error.message == "TLS with \(server) failed: its certificate expired on 2021-01-01T00:00:00Z")
        Self.expectNoInternals(error.message, server: server)
    }

    @Test func aCertificateNotYetValidSaysFromWhen() async throws {
        let (report, server) = try await Self.probe(.https(certificate: CertificateFixtures.notYetValid))
        let error = try #require(report.error)
        #expect(error.code == .siteTLSFailed)
        #expect(error.message.hasPrefix("TLS with \(server) failed: its certificate is not valid before 2125-01-01T00:00:00Z"))
        Self.expectNoInternals(error.message, server: server)
    }

    @Test func aCertificateForAnotherNameNamesBoth() async throws {
        let (report, server) = try await Self.probe(.https(certificate: CertificateFixtures.otherName))
        let error = try #require(report.error)
        #expect(error.code == .siteTLSFailed)
        #expect(
            error.message
                == #"TLS with \#(server) failed: its certificate is not valid for the name "127.0.0.1" (it is for "other.example", "*.other.example")"#
        )
        Self.expectNoInternals(error.message, server: server)
    }

    @Test func aTLSServerNameNotInTheCertificateIsTheNameNamed() async throws {
        let (report, server) = try await Self.probe(
            .https(certificate: CertificateFixtures.otherName), tlsServerName: "api.internal.example")
        let error = try #require(report.error)
        #expect(error.code == .siteTLSFailed)
        #expect(error.message.contains(#"not valid for the name "api.internal.example""#), "\(error)")
        Self.expectNoInternals(error.message, server: server)
    }

    // MARK: - The home API server

    @Test func theHomeClientNamesTLSFailuresInWordsToo() async throws {
        let cases: [(LoopbackServer.Behaviour, ServiceError.Code, String)] = [
            (.https(certificate: CertificateFixtures.expired), .apiRejected, "its certificate expired on 2021-01-01T00:00:00Z"),
            (.https(certificate: CertificateFixtures.fromOtherCA), .apiRejected, "is not signed by the cluster CA"),
            (.plainHTTP, .apiRejected, "does not speak TLS"),
        ]
        for (behaviour, code, phrase) in cases {
            let server = try await LoopbackServer.start(behaviour)
            let url = server.url
            let client = try KubernetesClient(
                server: url, certificateAuthority: Self.siteCA, requestTimeout: .seconds(5), logger: Logger(label: "test"))
            let error = await #expect(throws: ServiceError.self) {
                _ = try await client.dataObject(.configMaps, namespace: "onap", name: "x", token: BearerToken("t"), retry: .none)
            }
            #expect(error?.code == code && error?.message.contains(phrase) == true, "\(String(describing: error))")
            // The call it names is the only place a slash may appear.
            Self.expectNoInternals(error?.message ?? "", server: "GET \(url)/api/v1/namespaces/onap/configmaps/x")
            await client.shutdown()
            await server.stop()
        }
    }

    @Test func aRefusedConnectionAndAnUnknownErrorSayNoMore() {
        struct Quoting: Error, CustomStringConvertible { var description: String { "Bearer secret-token at /src/x.swift:3" } }
        let unknown = RemoteClusters.transportError(TransportFailure(Quoting()), server: "https://edge:6443")
        #expect(unknown.code == .siteUnreachable && unknown.message == "cannot reach https://edge:6443: the connection failed")
    }

    // MARK: - BoringSSL's reasons

    @Test func boringSSLsPackedReasonIsReadFromNIOSSLsDescription() throws {
        let described =
            "Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at "
            + "/src/.build/checkouts/swift-nio-ssl/Sources/CNIOBoringSSL/ssl/handshake.cc:320"
        let reason = try #require(TransportFailure.reason(ofDescription: described))
        #expect(reason == (16, 125))
        #expect(TransportFailure.failure(reason: reason) == .certificateRejected)
        #expect(TransportFailure.failure(reason: (16, 247)) == .notTLS)
        #expect(
            TransportFailure.failure(reason: (16, 1040))
                == .handshakeFailed("the server refused the handshake (TLS alert handshake_failure)"))
        #expect(TransportFailure.failure(reason: (11, 125)) == nil)
        #expect(TransportFailure.reason(ofDescription: "Error:  EOF during handshake") == nil)
    }
}

extension LoopbackServer.Behaviour: CustomTestStringConvertible {
    var testDescription: String {
        switch self {
        case .https: return "https"
        case .plainHTTP: return "plain HTTP"
        case .sshBanner: return "SSH banner"
        case .closing: return "closing"
        }
    }
}
