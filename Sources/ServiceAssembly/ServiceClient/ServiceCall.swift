import AsyncHTTPClient
import FoundationEssentials
import KubeconfigBase
import NIOCore
import NIOHTTP1
import NIOSSL

/// One request of the service on a caller's behalf, with the caller's own token: what the
/// `credential` and `kubeconfig` commands share. Its failures are one line in the operator's
/// words, never an HTTP client's own text (which may quote the request's headers, the token
/// among them).
struct ServiceCall: Sendable {
    /// The service's base URL: `https://...`, or `http://` on a loopback address only.
    var service: String
    var token: BearerToken
    /// PEM roots the service's certificate must chain to; nil: the system's.
    var certificateAuthority: [UInt8]?
    var timeout: Duration

    /// An answer: its status and body (at most 1 MiB, the document's own limit).
    struct Answer {
        var status: UInt
        var body: [UInt8]
    }

    /// `{service}{path}`, when a token may be sent there.
    func url(_ path: String) throws(ServiceClientError) -> String {
        let base = service.hasSuffix("/") ? String(service.dropLast()) : service
        guard CredentialPlugin.sendsTokensSafely(to: base) else {
            throw ServiceClientError(description: "--service must be an https URL (http only to a loopback address)")
        }
        return base + path
    }

    func send(
        _ method: HTTPMethod, _ path: String, accept: String = "application/json", json body: [UInt8]? = nil
    ) async throws(ServiceClientError) -> Answer {
        var request = HTTPClientRequest(url: try url(path))
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token.value)")
        request.headers.add(name: "Accept", value: accept)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let client = try makeClient()
        let answer: Answer
        do {
            let response = try await client.execute(request, timeout: TimeAmount(timeout))
            answer = Answer(
                status: response.status.code,
                body: Array(try await response.body.collect(upTo: 1 << 20).readableBytesView))
        } catch is NIOTooManyBytesError {
            try? await client.shutdown()
            throw ServiceClientError(
                description: "the service's answer is larger than 1 MiB: is \(service.printable) the service?")
        } catch {
            try? await client.shutdown()
            throw ServiceClientError(
                description: "cannot reach \(service.printable): \(Self.describe(error))",
                outcomeUnknown: method != .GET && !Self.neverSent(error))
        }
        try? await client.shutdown()
        return answer
    }

    /// The service's reason for refusing, on one line: `Code: message` without control
    /// characters, at most 300 of them.
    static func refusal(_ body: [UInt8]) -> String {
        struct Refusal: Decodable {
            struct Detail: Decodable { var code, message: String }
            var error: Detail
        }
        let refusal = try? JSONDecoder().decode(Refusal.self, from: Data(body))
        let reason = refusal.map { "\($0.error.code): \($0.error.message)" } ?? "no readable reason"
        return String(
            String.UnicodeScalarView(
                reason.unicodeScalars.prefix(300).map { scalar in
                    scalar.value < 0x20 || scalar.value == 0x7F ? " " : scalar
                }))
    }

    private func makeClient() throws(ServiceClientError) -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let certificateAuthority {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(certificateAuthority))
            } catch {
                throw ServiceClientError(description: "--service-ca-file holds no PEM certificate")
            }
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .seconds(10), read: TimeAmount(timeout))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Whether `error` means the request never reached the service (no connection was made).
    private static func neverSent(_ error: any Error) -> Bool {
        switch error {
        case let error as HTTPClientError where error == .connectTimeout: true
        case let error as IOError where error.errnoCode == 111: true  // ECONNREFUSED
        case let error as NIOSSLError:
            // Only a failed handshake comes before the request; an unclean shutdown may come after it.
            if case .handshakeFailed = error { true } else { false }
        default: false
        }
    }

    /// Why a request failed, in the operator's words.
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

/// Why a client of the service (the `credential`, `kubeconfig` and `site` commands) could not do
/// its work, in one line for the operator (or kubectl) to show. Never a credential.
public struct ServiceClientError: Error, CustomStringConvertible {
    public var description: String
    /// A change was sent but its answer was lost: whether it was made is not known.
    public var outcomeUnknown = false

    public init(description: String, outcomeUnknown: Bool = false) {
        self.description = description
        self.outcomeUnknown = outcomeUnknown
    }
}
