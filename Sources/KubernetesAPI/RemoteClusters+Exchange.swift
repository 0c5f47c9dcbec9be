import AsyncHTTPClient
import FoundationEssentials
import KubeconfigBase
import NIOCore
import NIOHTTP1

/// One call's requests to a remote site (a probe's two, or a TokenRequest), on the endpoint's client.
struct Exchange {
    let client: HTTPClient
    let base: String
    let endpoint: ClusterEndpoint
    let timeout: Duration

    static let reviewBody = Array(#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#.utf8)

    /// The fields of a SelfSubjectReview answer read here.
    private struct Review: Decodable {
        struct Status: Decodable {
            struct UserInfo: Decodable { var username: String? }
            var userInfo: UserInfo?
        }
        var status: Status?
    }

    func whoAmI(
        report: (_ reachable: Bool, _ authenticated: Bool?, _ user: String?, _ error: ServiceError?) -> ProbeReport
    ) async throws -> ProbeReport {
        let review = try await send(
            .POST, "/apis/authentication.k8s.io/v1/selfsubjectreviews", body: Self.reviewBody)
        switch review.status {
        case 200..<300:
            // The remote's text too: it could name the user as the credential it was sent.
            let user = (try? JSONDecoder().decode(Review.self, from: Data(review.body)))?.status?.userInfo?.username
                .map { APIStatus.quotable(endpoint.redaction.redact($0)) }
            return report(true, true, user, nil)
        case 401:
            return report(true, false, nil, Self.unauthorized(server: endpoint.server))
        case 403, 404, 405:
            // Not served (before 1.28, or switched off), or not allowed: discovery still tells
            // whether the credential authenticates.
            let api = try await send(.GET, "/api")
            switch api.status {
            case 200..<300, 403: return report(true, true, nil, nil)
            case 401: return report(true, false, nil, Self.unauthorized(server: endpoint.server))
            default: return report(true, nil, nil, unexpected(api))
            }
        default:
            return report(true, nil, nil, unexpected(review))
        }
    }

    func send(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil) async throws -> (status: Int, body: [UInt8]) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "kubeconfig-service")
        if case .token(let token) = endpoint.credential {
            request.headers.add(name: "Authorization", value: "Bearer \(token.value)")
        }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await client.execute(request, timeout: TimeAmount(timeout))
        let bytes = Array(buffer: try await response.body.collect(upTo: 1 << 20))
        return (Int(response.status.code), bytes)
    }

    private static func unauthorized(server: String) -> ServiceError {
        ServiceError(code: .siteUnauthorized, message: "\(server) rejected the site's credential (401 Unauthorized)")
    }

    private func unexpected(_ answer: (status: Int, body: [UInt8])) -> ServiceError {
        let status = APIStatus(httpCode: answer.status, body: answer.body, redaction: endpoint.redaction)
        let said = status.message.map { "HTTP \(answer.status): \($0)" } ?? status.text
        return ServiceError(code: .siteProbeFailed, message: "\(endpoint.server) answered \(said)")
    }

    /// A non-2xx answer as an error. Only the remote's `Status.message` is quoted, bounded and
    /// without the credential presented in any encoding (a proxy or a hostile remote may echo
    /// what it was sent); any other body is only described.
    func remoteError(_ answer: (status: Int, body: [UInt8])) -> ServiceError {
        KubernetesClient.statusError(
            APIStatus(httpCode: answer.status, body: answer.body, redaction: endpoint.redaction), retryAfterHeader: nil)
    }
}
