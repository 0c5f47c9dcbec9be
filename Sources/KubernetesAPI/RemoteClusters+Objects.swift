import KubeconfigBase
import NIOHTTP1

extension RemoteClusters {
    /// An answer of a site's API server to an object call: its status and body, the body's
    /// credentials redacted in nothing (it is JSON the caller decodes), errors already in words.
    public struct ObjectAnswer: Sendable {
        public var status: Int
        public var body: [UInt8]
    }

    /// One call on a site's objects (`site add` creating accounts and bindings): any status is
    /// returned, for the caller to tell 404 and 409 from success; a failure to get an answer is
    /// thrown in words, as a probe's is.
    public nonisolated func call(
        _ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, at endpoint: ClusterEndpoint
    ) async throws(ServiceError) -> ObjectAnswer {
        let started = ContinuousClock.now
        let connection = try await client(for: endpoint)
        let exchange = Exchange(client: connection.client, base: connection.base, endpoint: endpoint, timeout: timeout)
        do {
            let answer = try await exchange.send(method, path, body: body)
            return ObjectAnswer(status: answer.status, body: answer.body)
        } catch {
            throw await failure(error, endpoint: endpoint, deadline: started + timeout)
        }
    }

    /// A non-2xx answer to `call` as an error quoting only the API's `Status.message`, without
    /// the credential `endpoint` presented.
    public nonisolated func error(_ answer: ObjectAnswer, at endpoint: ClusterEndpoint) -> ServiceError {
        KubernetesClient.statusError(
            APIStatus(httpCode: answer.status, body: answer.body, redaction: endpoint.redaction), retryAfterHeader: nil)
    }
}
