import KubeconfigBase
import Logging

/// Hands out one `KubernetesClient` per (server, CA), replacing it when the CA rotates.
///
/// Pooled connections are kept across publications and access reviews; a client for a CA
/// that is no longer current is shut down once it is replaced.
public actor KubernetesClientProvider {
    private let requestTimeout: Duration
    private let logger: Logger
    private var current: KubernetesClient?

    public init(requestTimeout: Duration, logger: Logger) {
        self.requestTimeout = requestTimeout
        self.logger = logger
    }

    public func client(for credentials: ClusterCredentials) async throws(ServiceError) -> KubernetesClient {
        if let current, current.server == credentials.server, current.certificateAuthority == credentials.certificateAuthority {
            return current
        }
        let replacement = try KubernetesClient(
            server: credentials.server, certificateAuthority: credentials.certificateAuthority,
            requestTimeout: requestTimeout, logger: logger)
        let previous = current
        current = replacement
        if let previous {
            logger.info("cluster CA or server changed; replacing the API client", metadata: ["server": "\(credentials.server)"])
            // AsyncHTTPClient's shutdown cancels what is in flight: let those requests finish first.
            let grace = requestTimeout * 3
            Task {
                try? await Task.sleep(for: grace)
                await previous.shutdown()
            }
        }
        return replacement
    }

    /// Shuts the current client down; call once when the process stops.
    public func shutdown() async {
        await current?.shutdown()
        current = nil
    }
}
