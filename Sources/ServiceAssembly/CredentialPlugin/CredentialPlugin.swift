import AsyncHTTPClient
import FoundationEssentials
import KubeconfigBase
import NIOCore
import NIOHTTP1
import NIOSSL

/// kubectl's exec credential plugin for one site (`kubeconfig-service credential`): asks the
/// service for a fresh token of the site (`POST /sites/{name}/token`) with the caller's own
/// token, and hands it to client-go as an `ExecCredential` of the API version client-go asked
/// for (`KUBERNETES_EXEC_INFO`). Failures are one line for kubectl to show; nothing but the
/// credential is ever written to standard output.
public struct CredentialPlugin: Sendable {
    /// A failure, in a line kubectl shows its user.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public var site: String
    /// The service's base URL: `https://...`, or `http://` on a loopback address only.
    public var service: String
    /// The caller's own token for the service (never the site's).
    public var token: BearerToken
    /// PEM roots the service's certificate must chain to; nil: the system's.
    public var certificateAuthority: [UInt8]?
    public var timeout: Duration = .seconds(30)

    public init(site: String, service: String, token: BearerToken, certificateAuthority: [UInt8]?) {
        self.site = site
        self.service = service
        self.token = token
        self.certificateAuthority = certificateAuthority
    }

    /// The API versions of `ExecCredential` client-go speaks, and this plugin answers in.
    static let apiVersions = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]

    /// The version `KUBERNETES_EXEC_INFO` asks for (v1 without one, as client-go always sets it).
    static func apiVersion(execInfo: String?) throws(Failure) -> String {
        guard let execInfo, !execInfo.isEmpty else { return apiVersions[0] }
        struct Info: Decodable { var apiVersion: String? }
        guard let info = try? JSONDecoder().decode(Info.self, from: Data(execInfo.utf8)), let version = info.apiVersion
        else { throw Failure(description: "KUBERNETES_EXEC_INFO is not an ExecCredential") }
        guard apiVersions.contains(version) else {
            throw Failure(
                description: "KUBERNETES_EXEC_INFO asks for \(version.printable); this plugin speaks "
                    + apiVersions.joined(separator: " and "))
        }
        return version
    }

    /// The `ExecCredential` to print for `execInfo`.
    public func credential(execInfo: String?) async throws(Failure) -> [UInt8] {
        let version = try Self.apiVersion(execInfo: execInfo)
        let url = try tokenURL()
        let client = try makeClient()
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token.value)")
        request.headers.add(name: "Accept", value: "application/json")
        let status: UInt
        let body: [UInt8]
        do {
            let response = try await client.execute(request, timeout: TimeAmount(timeout))
            status = response.status.code
            body = Array(try await response.body.collect(upTo: 64 * 1024).readableBytesView)
        } catch {
            try? await client.shutdown()
            throw Failure(description: "cannot reach \(service.printable): \(Self.describe(error))")
        }
        try? await client.shutdown()
        return try Self.credential(status: status, body: body, apiVersion: version, site: site)
    }

    /// The answer of `POST /sites/{name}/token` as the plugin's output, or why there is none.
    static func credential(status: UInt, body: [UInt8], apiVersion: String, site: String) throws(Failure) -> [UInt8] {
        struct Answer: Decodable {
            struct Status: Decodable {
                var token: String
                var expirationTimestamp: String
            }
            var status: Status
        }
        struct Refusal: Decodable {
            struct Detail: Decodable { var code, message: String }
            var error: Detail
        }
        guard status == 200 else {
            let refusal = try? JSONDecoder().decode(Refusal.self, from: Data(body))
            let reason = refusal.map { "\($0.error.code): \($0.error.message)" } ?? "no readable reason"
            // One line: the service's message without its control characters.
            let line = String(
                String.UnicodeScalarView(
                    reason.unicodeScalars.prefix(300).map { scalar in
                        scalar.value < 0x20 || scalar.value == 0x7F ? " " : scalar
                    }))
            throw Failure(description: "the service refused a token for site \(site): \(status), \(line)")
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(body)) else {
            throw Failure(description: "the service's answer is not an ExecCredential")
        }
        var output = "{\"apiVersion\":"
        JSONString.write(apiVersion, to: &output)
        output += ",\"kind\":\"ExecCredential\",\"status\":{\"expirationTimestamp\":"
        JSONString.write(answer.status.expirationTimestamp, to: &output)
        output += ",\"token\":"
        JSONString.write(answer.status.token, to: &output)
        output += "}}\n"
        return Array(output.utf8)
    }

    /// `{service}/sites/{site}/token`: HTTPS, or HTTP to a loopback address (a token is never
    /// sent in the clear over a network).
    func tokenURL() throws(Failure) -> String {
        let base = service.hasSuffix("/") ? String(service.dropLast()) : service
        guard Self.sendsTokensSafely(to: base) else {
            throw Failure(description: "--service must be an https URL (http only to a loopback address)")
        }
        return base + "/sites/" + PercentEncoding.pathSegment.encode(site) + "/token"
    }

    /// Whether a token may be sent to `url`: HTTPS, or HTTP to a loopback address (the plugin's
    /// `--service`, and the `--public-url` that exec kubeconfigs name).
    public static func sendsTokensSafely(to url: String) -> Bool {
        let lowered = url.lowercased()
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"].contains { prefix in
            lowered == prefix || lowered.hasPrefix(prefix + ":") || lowered.hasPrefix(prefix + "/")
        }
        return lowered.hasPrefix("https://") || loopback
    }

    private func makeClient() throws(Failure) -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let certificateAuthority {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(certificateAuthority))
            } catch {
                throw Failure(description: "--service-ca-file holds no PEM certificate")
            }
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .seconds(10), read: TimeAmount(timeout))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Why a request failed, in the operator's words. Never the error's own text: an HTTP client
    /// error may quote the request's headers, the caller's token among them.
    private static func describe(_ error: any Error) -> String {
        switch error {
        case let error as HTTPClientError where error == .connectTimeout || error == .deadlineExceeded:
            return "no answer in time"
        case let error as HTTPClientError where error == .remoteConnectionClosed:
            return "the connection was closed before an answer"
        case is NIOSSLError, is BoringSSLError:
            return "TLS failed (is --service-ca-file the CA of the service's certificate?)"
        case let error as IOError where error.errnoCode == 111:  // ECONNREFUSED
            return "connection refused"
        default:
            return "the request failed (\(String(reflecting: type(of: error))))"
        }
    }
}
