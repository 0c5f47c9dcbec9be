import AsyncHTTPClient
import KubeconfigBase
import NIOCore
import NIOSSL

/// The one way an HTTP client for a cluster's API server is built, for the home cluster
/// (`KubernetesClient`) and remote sites (`RemoteClusters`) alike: TLS that trusts exactly the
/// cluster's CA (never the system store, never another cluster's), an optional client
/// certificate, no redirects, HTTP/1.1, and connection failures reported at once (retries are
/// the caller's, through `RetryPolicy` or the next probe).
enum ClusterHTTPClient {
    /// What the client is built from besides the CA.
    struct Options {
        /// The longest a request may take; the connect timeout is this, between 1 and 10 s.
        var timeout: Duration
        /// Whether a stalled read of an answer fails after `timeout` (remote sites: a socket that
        /// accepts and never answers must not hold a probe's connection).
        var readTimeout = false
        /// How long an unused pooled connection is kept.
        var idleTimeout: Duration
        /// A client certificate to present.
        var identity: ClientIdentity?
        /// Host names resolved to other hosts (a `tls-server-name`: see `RemoteClusters.target`).
        var dnsOverride: [String: String]?
    }

    /// A client trusting exactly `certificateAuthority` (PEM), or the error `unreadableCA` when
    /// it is not a PEM certificate bundle.
    static func make(
        certificateAuthority: [UInt8], options: Options, unreadableCA: ServiceError
    ) throws(ServiceError) -> HTTPClient {
        var tls = try options.identity?.tlsConfiguration() ?? TLSConfiguration.makeClientConfiguration()
        do {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(certificateAuthority))
        } catch {
            throw unreadableCA
        }
        // A connection abandoned after a timeout would otherwise hold shutdown for NIOSSL's
        // default 5 s while it waits for the busy peer's close_notify.
        tls.shutdownTimeout = .milliseconds(500)
        let seconds = Int64(options.timeout.components.seconds)
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(
                connect: .seconds(max(1, min(seconds, 10))), read: options.readTimeout ? .seconds(max(1, seconds)) : nil))
        configuration.httpVersion = .http1Only
        configuration.connectionPool.idleTimeout = TimeAmount(options.idleTimeout)
        // Fail a refused connect at once: the pool's own backoff would otherwise hold each
        // request for its whole timeout and outlast an outage.
        configuration.connectionPool.retryConnectionEstablishment = false
        if let dnsOverride = options.dnsOverride { configuration.dnsOverride = dnsOverride }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}
