import FoundationEssentials
import KubeconfigBase
import KubernetesAPI
import Synchronization

/// The bootstrap credential of one managed registration as this process holds it: what every
/// TokenRequest of the registration (the deployer's token, a caller's, the credential's own
/// renewal) is made with, renewed in place (`BootstrapRenewal`).
final class BootstrapCredential: Sendable {
    let site: String
    /// The registration as the credentials Secret first gave it: its server, CA and server name
    /// (never changed by a renewal; its `bootstrapToken` is the first one, not the current one).
    let registered: ManagedCredential
    let renewal: Mutex<BootstrapRenewal>

    init(site: String, registered: ManagedCredential, now: Date = Date()) {
        self.site = site
        self.registered = registered
        self.renewal = Mutex(BootstrapRenewal(token: registered.bootstrapToken, now: now))
    }

    var registration: String { registered.registration }

    /// The credential to present now.
    var token: BearerToken { renewal.withLock { $0.token } }

    /// The registered server and CA, with the current credential.
    var endpoint: ClusterEndpoint {
        var endpoint = registered.endpoint
        endpoint.credential = .token(token)
        return endpoint
    }
}

/// The TokenRequest API of one managed registration, as `IssuedTokenSource` asks for it: at the
/// registered server, with the bootstrap credential as it is at each request (a renewal swaps it).
struct ManagedSiteTokenRequests: TokenRequestAPI {
    let remote: any RemoteTokenRequestAPI
    let bootstrap: BootstrapCredential

    func requestToken(
        namespace: String, serviceAccount: String, expirationSeconds: Int, audiences: [String]
    ) async throws(ServiceError) -> IssuedToken {
        try await remote.requestToken(
            at: bootstrap.endpoint, namespace: namespace, serviceAccount: serviceAccount,
            expirationSeconds: expirationSeconds, audiences: audiences)
    }
}
