/// How the embedded server listens, and the bounds it puts on every client.
public struct HTTPServerConfiguration: Sendable {
    /// Address to bind: an IPv4 or IPv6 literal (`0.0.0.0`, `::`, `::1`).
    public var address: String = "0.0.0.0"
    /// Port to bind; 0 picks a free one (see `HTTPServer.port`).
    public var port: UInt16 = 8080
    /// Threads that serve connections (microhttpd's thread pool).
    public var threadCount: Int = 2
    /// Connections open at once; more are refused at accept.
    public var connectionLimit: Int = 1024
    /// Seconds of inactivity after which a connection is closed.
    public var connectionTimeoutSeconds: Int = 30
    /// Memory microhttpd may use per connection; it bounds the request line and headers (a
    /// larger head is refused with 431). microhttpd clears it for every request: keep it small.
    public var memoryPerConnection: Int = 16 * 1024
    /// Largest request body kept; a larger one is drained and flagged `bodyTooLarge`.
    public var maxBodyBytes: Int = 64 * 1024
    /// Largest oversized body read and thrown away before the 413 is sent (nginx's lingering
    /// close): a client that sends its body without waiting for `100 Continue` then reads the
    /// 413 instead of a connection reset. A larger one (declared or sent) is answered at once.
    public var maxDrainedBodyBytes: Int = 8 * 1024 * 1024
    /// Seconds `stop()` and `handOver(to:)` wait for requests under way, and for accepted
    /// connections to send theirs, before closing the connections.
    public var shutdownGraceSeconds: Int = 5
    /// PEM certificate chain and key: serve HTTPS only when set.
    public var tls: TLSIdentity?

    public struct TLSIdentity: Sendable, Equatable {
        public var certificatePEM: String
        public var privateKeyPEM: String
        public init(certificatePEM: String, privateKeyPEM: String) {
            self.certificatePEM = certificatePEM
            self.privateKeyPEM = privateKeyPEM
        }
    }

    public init() {}
}
