import AsyncHTTPClient
import FoundationEssentials
import KubeconfigBase
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The API servers of remote sites, each reached with exactly its own CA.
///
/// Probes, as Cluster API's remote connection probe and Argo CD's cluster connection state do:
/// one TLS connection that trusts exactly the site's CA, and a `SelfSubjectReview` saying who the
/// site's credential authenticates as (`GET /api` where that API is not served). And TokenRequests
/// made there with a site's bootstrap credential.
///
/// One HTTP client per endpoint (server, CA, server name, client certificate), kept between
/// calls so a healthy site costs one request per probe; `retain(_:)` drops those of sites gone.
public actor RemoteClusters: ClusterProbeAPI, RemoteTokenRequestAPI {
    let timeout: Duration
    private let logger: Logger
    private var clients: [ConnectionKey: HTTPClient] = [:]
    /// When each client was last handed out: one in use is never shut down.
    private var lastUsed: [ConnectionKey: ContinuousClock.Instant] = [:]

    /// What an HTTP client is built from: everything of an endpoint but its bearer token.
    private struct ConnectionKey: Hashable {
        var server: String
        var certificateAuthority: [UInt8]
        var tlsServerName: String?
        var identity: ClientIdentity?

        init(_ endpoint: ClusterEndpoint) {
            server = endpoint.server
            certificateAuthority = endpoint.certificateAuthority
            tlsServerName = endpoint.tlsServerName
            if case .clientCertificate(let identity) = endpoint.credential { self.identity = identity }
        }
    }

    /// - Parameter timeout: the most one probe may take, connection included.
    public init(timeout: Duration, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    public nonisolated func probe(_ endpoint: ClusterEndpoint) async -> ProbeReport {
        let clock = ContinuousClock()
        let started = clock.now
        let timeout = timeout
        // One deadline for the whole probe: both requests and their bodies (async-http-client's
        // own deadline ends once response headers arrive; the read timeout bounds each stall).
        return await withTaskGroup(of: ProbeReport?.self) { group in
            group.addTask { await self.probeOnce(endpoint, started: started) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
                ?? ProbeReport(
                    reachable: false, authenticated: nil, latency: clock.now - started,
                    error: ServiceError(code: .siteTimeout, message: "\(endpoint.server) did not answer in time"))
        }
    }

    private nonisolated func probeOnce(_ endpoint: ClusterEndpoint, started: ContinuousClock.Instant) async -> ProbeReport {
        let clock = ContinuousClock()
        func report(reachable: Bool, authenticated: Bool?, user: String? = nil, error: ServiceError? = nil) -> ProbeReport {
            ProbeReport(
                reachable: reachable, authenticated: authenticated, user: user, latency: clock.now - started, error: error)
        }
        let connection: (client: HTTPClient, base: String)
        do {
            connection = try await client(for: endpoint)
        } catch {
            return report(reachable: false, authenticated: nil, error: error)
        }
        let exchange = Exchange(client: connection.client, base: connection.base, endpoint: endpoint, timeout: timeout)
        do {
            guard case .unsupported(let kind) = endpoint.credential else {
                return try await exchange.whoAmI(report: report)
            }
            // Nothing to present: reaching the server is all a probe can tell.
            _ = try await exchange.send(.GET, "/version")
            logger.trace("site credential not probed", metadata: ["server": "\(endpoint.server)", "kind": "\(kind)"])
            return report(reachable: true, authenticated: nil)
        } catch {
            let cause = await failure(error, endpoint: endpoint, deadline: started + timeout)
            return report(reachable: false, authenticated: nil, error: cause)
        }
    }

    public nonisolated func requestToken(
        at endpoint: ClusterEndpoint, namespace: String, serviceAccount: String, expirationSeconds: Int,
        audiences: [String]
    ) async throws(ServiceError) -> IssuedToken {
        let started = ContinuousClock.now
        let connection = try await client(for: endpoint)
        let what = "TokenRequest for serviceaccount \(namespace)/\(serviceAccount) at \(endpoint.server)"
        let exchange = Exchange(client: connection.client, base: connection.base, endpoint: endpoint, timeout: timeout)
        let answer: (status: Int, body: [UInt8])
        do {
            answer = try await exchange.send(
                .POST, KubernetesClient.tokenRequestPath(namespace: namespace, serviceAccount: serviceAccount),
                body: KubernetesClient.tokenRequestBody(expirationSeconds: expirationSeconds, audiences: audiences))
        } catch {
            throw await failure(error, endpoint: endpoint, deadline: started + timeout)
        }
        guard (200..<300).contains(answer.status) else {
            throw exchange.remoteError(answer)
        }
        return try KubernetesClient.issuedToken(from: answer.body, what: what, redaction: endpoint.redaction)
    }

    /// Shuts down the clients of every endpoint not in `endpoints` that has been idle for a
    /// while (a site being registered is not in the document yet, but its client is in use).
    public func retain(_ endpoints: [ClusterEndpoint]) async {
        await drop(keeping: Set(endpoints.map(ConnectionKey.init)), idleFor: timeout * 3)
    }

    /// Shuts every client down; call once when the process stops.
    public func shutdown() async {
        await drop(keeping: [], idleFor: .zero)
    }

    private func drop(keeping kept: Set<ConnectionKey>, idleFor idle: Duration) async {
        let now = ContinuousClock.now
        let dropped = clients.filter { key, _ in
            !kept.contains(key) && (lastUsed[key].map { now - $0 >= idle } ?? true)
        }
        for key in dropped.keys {
            clients[key] = nil
            lastUsed[key] = nil
        }
        for client in dropped.values { try? await client.shutdown() }
    }

    // MARK: - Clients

    func client(for endpoint: ClusterEndpoint) throws(ServiceError) -> (client: HTTPClient, base: String) {
        let key = ConnectionKey(endpoint)
        let target = try Self.target(endpoint)
        lastUsed[key] = .now
        if let client = clients[key] { return (client, target.base) }
        let client = try ClusterHTTPClient.make(
            certificateAuthority: endpoint.certificateAuthority,
            options: .init(
                timeout: timeout, readTimeout: true, idleTimeout: .seconds(120), identity: key.identity,
                dnsOverride: target.dnsOverride),
            unreadableCA: ServiceError(
                code: .certificateUnreadable, message: "the site's certificate-authority-data is not PEM"))
        clients[key] = client
        return (client, target.base)
    }

    /// The URL prefix to request, and for a `tls-server-name` the DNS override that sends the
    /// request for that name to the server's real host: the certificate is then checked
    /// against the name, as client-go does.
    static func target(_ endpoint: ClusterEndpoint) throws(ServiceError) -> (base: String, dnsOverride: [String: String]?) {
        var base = endpoint.server
        while base.hasSuffix("/") { base.removeLast() }
        guard let tlsServerName = endpoint.tlsServerName else { return (base, nil) }
        let prefix = "https://"
        guard base.hasPrefix(prefix) else {
            throw ServiceError(code: .siteProbeFailed, message: "the site's server is not an https URL")
        }
        let rest = base.dropFirst(prefix.count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        var host = Substring(authority)
        var port = ""
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            port = String(host[host.index(after: close)...])
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            port = String(host[colon...])
            host = host[..<colon]
        }
        return (prefix + tlsServerName + port + path, [tlsServerName: String(host)])
    }
}
