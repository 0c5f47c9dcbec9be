import AsyncHTTPClient
import CoreMetrics
import FoundationEssentials
import KubeconfigBase
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// A minimal Kubernetes API client: the few calls this service makes, over HTTPS that trusts
/// exactly the cluster CA.
///
/// The token is passed per call, because it rotates while the client (and its pooled
/// connections) live on.
public final class KubernetesClient: Sendable {
    /// `https://host:port` of the API server.
    public let server: String
    /// The CA this client trusts, to tell whether a re-read CA needs a new client.
    public let certificateAuthority: [UInt8]
    let http: HTTPClient
    let requestTimeout: Duration
    private let logger: Logger
    /// Retries by cause, made once: looking a counter up by label takes the factory's lock.
    private let retryCounters: [ServiceError.Code: Counter]

    /// Largest response body read from the API server (a ConfigMap is at most 1 MiB of data).
    static let maxResponseBytes = 4 << 20

    public init(server: String, certificateAuthority: [UInt8], requestTimeout: Duration, logger: Logger) throws(ServiceError) {
        self.http = try ClusterHTTPClient.make(
            certificateAuthority: certificateAuthority,
            options: .init(timeout: requestTimeout, idleTimeout: .seconds(60)),
            unreadableCA: ServiceError(
                code: .serviceAccountUnreadable, message: "the cluster CA is not a PEM certificate bundle"))
        self.server = server
        self.certificateAuthority = certificateAuthority
        self.requestTimeout = requestTimeout
        self.logger = logger
        self.retryCounters = Dictionary(
            uniqueKeysWithValues: [ServiceError.Code.apiUnavailable, .apiServerError, .apiTimeout, .apiUnreachable].map {
                ($0, Counter(label: "kubeconfig_apiserver_retries_total", dimensions: [("reason", $0.rawValue)]))
            })
    }

    /// Closes pooled connections. Call once, before dropping the last reference.
    public func shutdown() async {
        try? await http.shutdown()
    }

    // MARK: - Calls

    /// A raw call: the response body of a 2xx answer, or the API's Status as a `ServiceError`.
    ///
    /// Retryable failures (429, 5xx, lost connections, timeouts) are retried as `retry` says,
    /// honouring `Retry-After`; the last cause is reported when the budget is spent. `alsoSent`
    /// are credentials the body carries (a TokenReview's), kept out of errors like `token`.
    func send(
        _ method: HTTPMethod, _ path: String, token: BearerToken, alsoSent: [BearerToken] = [], contentType: String? = nil,
        body: [UInt8]? = nil, retry: RetryPolicy
    ) async throws(ServiceError) -> [UInt8] {
        let clock = ContinuousClock()
        let giveUpAt = clock.now + retry.budget
        var attempt = 0
        while true {
            attempt += 1
            do {
                let remaining = giveUpAt - clock.now
                let timeout = attempt == 1 ? requestTimeout : min(requestTimeout, max(remaining, .milliseconds(100)))
                return try await sendOnce(
                    method, path, token: token, alsoSent: alsoSent, contentType: contentType, body: body, timeout: timeout)
            } catch let failure {
                guard failure.isRetryable else { throw failure }
                let wait = retry.backoff(
                    attempt: attempt, retryAfterSeconds: failure.retryAfterSeconds, jitter: .random(in: 0...1))
                guard clock.now + wait < giveUpAt else { throw failure }
                retryCounters[failure.code]?.increment()
                logger.debug(
                    "retrying API call",
                    metadata: ["method": "\(method)", "path": "\(path)", "cause": "\(failure)", "wait": "\(wait)"])
                do { try await Task.sleep(for: wait) } catch { throw failure }
            }
        }
    }

    private func sendOnce(
        _ method: HTTPMethod, _ path: String, token: BearerToken, alsoSent: [BearerToken], contentType: String?,
        body: [UInt8]?, timeout: Duration
    ) async throws(ServiceError) -> [UInt8] {
        var request = HTTPClientRequest(url: server + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token.value)")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "kubeconfig-service")
        if let body {
            request.headers.add(name: "Content-Type", value: contentType ?? "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let status: HTTPResponseStatus
        let headers: HTTPHeaders
        let bytes: [UInt8]
        do {
            let response = try await http.execute(request, timeout: TimeAmount(timeout))
            status = response.status
            headers = response.headers
            bytes = Array(buffer: try await response.body.collect(upTo: Self.maxResponseBytes))
        } catch {
            throw await failure(error, method: method, path: path)
        }
        if (200..<300).contains(status.code) { return bytes }
        throw Self.statusError(
            code: Int(status.code), body: bytes, retryAfterHeader: headers.first(name: "Retry-After"),
            redaction: CredentialRedaction([token] + alsoSent))
    }

    /// The cause of a call that got no answer, in an operator's words; a refused certificate is
    /// looked at again (`CertificateDiagnosis`).
    func failure(_ error: any Error, method: HTTPMethod, path: String) async -> ServiceError {
        let what = "\(method) \(server)\(path)"
        let failure = TransportFailure(error)
        switch failure {
        case .timedOut:
            return ServiceError(code: .apiTimeout, message: "\(what): the API server did not answer in time")
        case .unresolved(let host):
            return ServiceError(
                code: .apiUnreachable, message: "\(what): cannot resolve the host name \(host ?? "of the API server")")
        case .refused:
            return ServiceError(code: .apiUnreachable, message: "\(what): cannot reach the API server: it refused the connection")
        case .connectionFailed(let cause):
            return ServiceError(code: .apiUnreachable, message: "\(what): cannot reach the API server: \(cause)")
        case .closed:
            return ServiceError(
                code: .apiUnreachable, message: "\(what): the API server closed the connection before a whole answer")
        case .answerTooLarge:
            return ServiceError(
                code: .apiProtocol, message: "\(what): the API server's answer is larger than \(Self.maxResponseBytes) bytes")
        // TLS failures are not retried: a certificate the cluster CA does not vouch for stays so.
        case .notTLS:
            return ServiceError(
                code: .apiRejected, message: "\(what): the API server's port does not speak TLS (is it a plain-HTTP port?)")
        case .closedDuringHandshake:
            return ServiceError(
                code: .apiRejected, message: "\(what): the API server closed the connection during the TLS handshake")
        case .handshakeFailed(let cause):
            return ServiceError(
                code: .apiRejected,
                message: "\(what): the TLS handshake with the API server failed" + (cause.map { ": \($0)" } ?? ""))
        case .certificateRejected, .nameMismatch:
            let cause = await CertificateDiagnosis.explain(
                failure, server: server, serverName: nil, certificateAuthority: certificateAuthority,
                authority: "the cluster CA", timeout: requestTimeout, redaction: .none)
            return ServiceError(code: .apiRejected, message: "\(what): TLS with the API server failed: \(cause)")
        case .unknown:
            return ServiceError(code: .apiUnreachable, message: "\(what): cannot reach the API server: the connection failed")
        }
    }

    /// Turns a non-2xx answer (a `Status` object, usually) into a `ServiceError`, quoting only
    /// the `Status.message`, without the credentials the call presented (`redaction`).
    static func statusError(
        code: Int, body: [UInt8], retryAfterHeader: String?, redaction: CredentialRedaction
    ) -> ServiceError {
        statusError(APIStatus(httpCode: code, body: body, redaction: redaction), retryAfterHeader: retryAfterHeader)
    }

    static func statusError(_ status: APIStatus, retryAfterHeader: String?) -> ServiceError {
        let message = status.text
        let retryAfter = status.retryAfterSeconds ?? retryAfterHeader.flatMap { Int($0) }
        switch status.httpCode {
        case 401: return ServiceError(code: .apiUnauthorized, message: "unauthorized: \(message)")
        case 403: return ServiceError(code: .apiForbidden, message: "forbidden: \(message)")
        case 404: return ServiceError(code: .apiNotFound, message: message)
        case 409: return ServiceError(code: .apiConflict, message: message)
        case 410: return ServiceError(code: .apiExpired, message: "the resourceVersion is too old: \(message)")
        case 429, 503: return ServiceError(code: .apiUnavailable, message: message, retryAfterSeconds: retryAfter)
        case 504: return ServiceError(code: .apiTimeout, message: message)
        case 500...599: return ServiceError(code: .apiServerError, message: message, retryAfterSeconds: retryAfter)
        default:
            return ServiceError(
                code: .apiRejected, message: status.message.map { "HTTP \(status.httpCode): \($0)" } ?? message)
        }
    }
}
