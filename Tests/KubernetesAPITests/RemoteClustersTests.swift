import Logging
import NIOCore
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

    @Test func errorsThatMightQuoteARequestNameOnlyTheirType() {
        struct Quoting: Error, CustomStringConvertible { var description: String { "Bearer secret-token" } }
        let error = RemoteClusters.transportError(Quoting(), server: "https://edge:6443")
        #expect(error.code == .siteUnreachable)
        #expect(!error.message.contains("secret-token"))
        let refused = RemoteClusters.transportError(IOError(errnoCode: 111, reason: "connect"), server: "https://e:1")
        #expect(refused.code == .siteConnectionRefused)
    }

    @Test func aRemoteMessageLosesEveryCopyOfTheCredential() {
        let token = BearerToken("secret-token")
        #expect(
            Exchange.redacting(token, in: "Bearer secret-token; echo secret-token.")
                == "Bearer <redacted>; echo <redacted>.")
        #expect(Exchange.redacting(BearerToken(""), in: "forbidden") == "forbidden")
    }

    /// A CA certificate (any will do: nothing is verified against it here).
    static let ca = """
        -----BEGIN CERTIFICATE-----
        MIIBgDCCASegAwIBAgIUVE+TXobFbVewo6zN2iok+fIbT6MwCgYIKoZIzj0EAwIw
        FTETMBEGA1UEAwwKZml4dHVyZS1jYTAgFw0yNjEyMDIwMjI4MzRaGA8yMTI2MTEw
        ODAyMjgzNFowFTETMBEGA1UEAwwKZml4dHVyZS1jYTBZMBMGByqGSM49AgEGCCqG
        SM49AwEHA0IABNg2zYZBoXVBeoZc89ZFEdHdtH7+B3V6UOTUiioUQPQuZffhgCva
        vrcsWnXqHiOerlXdCbEW8h71EPSbNpkBFcujUzBRMB0GA1UdDgQWBBQyJ/Sa6VVb
        gWMlJKyTz8cwqQuv3jAfBgNVHSMEGDAWgBQyJ/Sa6VVbgWMlJKyTz8cwqQuv3jAP
        BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCICt1akTuayNxVw7vbgoB
        dwyrOLm8pIdFlWBUPpvSEpR5AiAPwnTO4QO1RmeR2AJ3mE3ZRUiXxxYrBcuWMMZm
        Uamh0Q==
        -----END CERTIFICATE-----

        """
}
