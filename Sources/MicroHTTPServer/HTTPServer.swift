import CMicroHTTPD
import HTTPMessages
import HTTPTypes
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// An HTTP/1.1 server on libmicrohttpd: its internal epoll thread pool reads requests, and a
/// `HTTPResponder` answers them.
///
/// Answers that need async work suspend the connection (`MHD_suspend_connection`) so no
/// server thread waits; the work runs in a Task and resumes the connection when done.
public final class HTTPServer: Sendable {
    public let configuration: HTTPServerConfiguration
    public let responder: any HTTPResponder
    let logger: Logger

    /// The running daemon; nil before `start()` and once `stop()` or `handOver(to:)` has begun.
    private let daemon = Mutex<DaemonHandle?>(nil)
    private let boundPort = Atomic<UInt16>(0)
    /// Requests between their first callback and their completion notice.
    let activeRequests = Atomic<Int>(0)
    /// Connections accepted that have neither sent a request nor closed yet (a TLS handshake
    /// under way, say). Idle keep-alive connections are not counted.
    let connectionsAwaitingRequest = Atomic<Int>(0)
    /// Connections suspended while their answer is computed, by request.
    let suspended = Mutex<[ObjectIdentifier: SuspendedConnection]>([:])

    public init(configuration: HTTPServerConfiguration, responder: any HTTPResponder, logger: Logger) {
        self.configuration = configuration
        self.responder = responder
        self.logger = logger
    }

    deinit {
        assert(daemon.withLock { $0 == nil }, "HTTPServer released while running: call stop() first")
    }

    /// The port the server listens on (useful with port 0); 0 when not running.
    public var port: UInt16 { boundPort.load(ordering: .acquiring) }

    // MARK: - Starting

    public func start() throws(HTTPServerError) {
        try start(listeningSocket: nil)
    }

    /// Starts on `listeningSocket` when given (a socket another server handed over), else binds.
    private func start(listeningSocket: Int32?) throws(HTTPServerError) {
        var flags =
            MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue
            | MHD_USE_ERROR_LOG.rawValue
        var address = try SocketAddress(configuration.address, port: configuration.port)
        if address.isIPv6 {
            // "::" also takes IPv4 clients; a specific IPv6 address only its own family.
            flags |= address.isUnspecified ? MHD_USE_DUAL_STACK.rawValue : MHD_USE_IPv6.rawValue
        }
        if configuration.tls != nil { flags |= MHD_USE_TLS.rawValue }

        let handle: OpaquePointer? = address.withSockaddr { sockaddr in
            withTLSStrings { certificate, key in
                var options: [MHD_OptionItem] = [
                    listeningSocket.map { MHD_OptionItem(option: MHD_OPTION.LISTEN_SOCKET, value: Int($0), ptr_value: nil) }
                        ?? MHD_OptionItem(option: MHD_OPTION.SOCK_ADDR, value: 0, ptr_value: UnsafeMutableRawPointer(sockaddr)),
                    MHD_OptionItem(option: MHD_OPTION.CONNECTION_LIMIT, value: configuration.connectionLimit, ptr_value: nil),
                    MHD_OptionItem(
                        option: MHD_OPTION.CONNECTION_TIMEOUT, value: configuration.connectionTimeoutSeconds, ptr_value: nil),
                    MHD_OptionItem(
                        option: MHD_OPTION.CONNECTION_MEMORY_LIMIT, value: configuration.memoryPerConnection, ptr_value: nil),
                    MHD_OptionItem(option: MHD_OPTION.LISTEN_BACKLOG_SIZE, value: 1024, ptr_value: nil),
                    // Refuse requests without Host and headers with a space before the colon.
                    MHD_OptionItem(option: MHD_OPTION.STRICT_FOR_CLIENT, value: 1, ptr_value: nil),
                ]
                if configuration.threadCount > 1 {
                    // With one thread the polling thread serves alone; microhttpd warns about a pool of 1.
                    options.append(
                        MHD_OptionItem(option: MHD_OPTION.THREAD_POOL_SIZE, value: configuration.threadCount, ptr_value: nil))
                }
                if let certificate, let key {
                    options.append(MHD_OptionItem(option: MHD_OPTION.HTTPS_MEM_CERT, value: 0, ptr_value: certificate))
                    options.append(MHD_OptionItem(option: MHD_OPTION.HTTPS_MEM_KEY, value: 0, ptr_value: key))
                }
                options.append(MHD_OptionItem(option: MHD_OPTION.END, value: 0, ptr_value: nil))
                return options.withUnsafeMutableBufferPointer { buffer in
                    kcs_mhd_start_daemon(
                        flags, configuration.port, accessHandlerCallback, Unmanaged.passUnretained(self).toOpaque(),
                        requestCompletedCallback, Unmanaged.passUnretained(self).toOpaque(),
                        errorLogCallback, Unmanaged.passUnretained(self).toOpaque(),
                        connectionNotifyCallback, Unmanaged.passUnretained(self).toOpaque(), buffer.baseAddress)
                }
            }
        }
        guard let handle else {
            throw HTTPServerError(
                "cannot listen on \(configuration.address) port \(configuration.port): the address may be in use, "
                    + "not local, or the TLS certificate and key unusable (see the log line above)")
        }
        boundPort.store(listeningSocket == nil ? kcs_mhd_bound_port(handle) : configuration.port, ordering: .releasing)
        daemon.withLock { $0 = DaemonHandle(pointer: handle) }
    }

    /// Passes the PEM strings as C strings valid for the duration of `body`.
    private func withTLSStrings<T>(_ body: (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> T) -> T {
        guard let tls = configuration.tls else { return body(nil, nil) }
        var certificate = Array(tls.certificatePEM.utf8CString)
        var key = Array(tls.privateKeyPEM.utf8CString)
        defer {
            // The key does not linger in freed memory.
            for index in key.indices { key[index] = 0 }
        }
        return certificate.withUnsafeMutableBytes { certificate in
            key.withUnsafeMutableBytes { key in body(certificate.baseAddress, key.baseAddress) }
        }
    }

    // MARK: - Stopping

    /// Stops accepting connections, lets requests under way finish and connections accepted send
    /// theirs (up to the grace period), then closes every connection and stops the threads.
    public func stop() async {
        // Taken, not read: a stop() during a hand-over must not stop the same daemon twice
        // (microhttpd aborts the process when MHD_stop_daemon is called twice).
        guard let handle = daemon.withLock({ $0.take() }) else { return }
        let listening = MHD_quiesce_daemon(handle.pointer)
        if listening >= 0 {
            // A quiesced socket still listens: the kernel would go on completing handshakes into
            // its backlog, which nobody accepts, until it is closed. Shut it down so that new
            // clients are refused at once (on Linux, SHUT_RD ends a listening socket's LISTEN
            // state) while the descriptor stays valid for microhttpd's threads.
            _ = shutdown(listening, Int32(SHUT_RD))
        }
        await finish(handle)
        // Only now: microhttpd's threads may use the descriptor until the daemon has stopped.
        if listening >= 0 { close(listening) }
    }

    /// Hands the listening socket to a new server with `configuration` (a renewed certificate),
    /// then stops this one gracefully. Connections waiting in the socket's backlog are accepted
    /// by the new server, and those this one accepted are served by it first: none is refused or
    /// reset.
    ///
    /// If the new server cannot start (say, a key that does not match), one with this server's
    /// configuration takes the socket instead, and `refused` says why.
    /// - Throws: only when neither could take the socket; nothing listens then.
    public func handOver(to configuration: HTTPServerConfiguration) async throws(HTTPServerError) -> HandOver {
        guard let handle = daemon.withLock({ $0.take() }) else { throw HTTPServerError("the server is not running") }
        let listening = MHD_quiesce_daemon(handle.pointer)
        guard listening >= 0 else {
            daemon.withLock { $0 = handle }
            throw HTTPServerError("microhttpd could not release its listening socket")
        }
        var adopted = configuration
        adopted.port = port
        // Each candidate gets its own descriptor of the socket: microhttpd closes the one it
        // was given when it fails to start, and the fallback still needs the socket.
        func start(_ configuration: HTTPServerConfiguration) throws(HTTPServerError) -> HTTPServer {
            let descriptor = dup(listening)
            guard descriptor >= 0 else { throw HTTPServerError("cannot duplicate the listening socket") }
            let server = HTTPServer(configuration: configuration, responder: responder, logger: logger)
            // On failure microhttpd has closed `descriptor` itself (checked with 0.9.75).
            try server.start(listeningSocket: descriptor)
            return server
        }
        var refused: HTTPServerError?
        let successor: HTTPServer
        do {
            successor = try start(adopted)
        } catch {
            refused = error
            var previous = self.configuration
            previous.port = port
            do {
                successor = try start(previous)
            } catch {
                await finish(handle, servingAtLeast: Self.lateAcceptWindow)
                close(listening)
                throw HTTPServerError("\(refused!); and the previous configuration could not take the socket back: \(error)")
            }
        }
        await finish(handle, servingAtLeast: Self.lateAcceptWindow)
        close(listening)
        return HandOver(successor: successor, refused: refused)
    }

    /// What `handOver(to:)` did: the server now listening, and why the new configuration was
    /// refused, if it was (the successor then runs the previous configuration).
    public struct HandOver: Sendable {
        public let successor: HTTPServer
        public let refused: HTTPServerError?
    }

    /// How long a quiesced daemon keeps running after a hand-over before its counts are trusted.
    ///
    /// MHD_quiesce_daemon (microhttpd 0.9.75, thread pool with epoll) takes the listening socket
    /// out of the workers' epoll sets without waiting for the workers: one already past the
    /// `was_quiesced` check in MHD_accept_connection still accepts a connection, and a connection
    /// accepted just before the quiesce is announced to `connectionNotifyCallback` only after its
    /// TLS session is set up. Until that announcement no count shows the connection, and
    /// MHD_stop_daemon would close it in the middle of its TLS handshake (the client sees a reset).
    /// Only the scheduler can delay the announcement; a second covers a loaded machine.
    static let lateAcceptWindow = Duration.seconds(1)

    /// Stops the daemon once no request is under way and every connection it accepted has sent a
    /// request or closed, within the grace period. Idle keep-alive connections are not waited for.
    ///
    /// - Parameter minimum: how long the daemon keeps serving whatever the counts say (see
    ///   `lateAcceptWindow`).
    private func finish(_ handle: DaemonHandle, servingAtLeast minimum: Duration = .zero) async {
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + .seconds(configuration.shutdownGraceSeconds)
        let earliest = started + minimum
        while clock.now < deadline,
            clock.now < earliest || activeRequests.load(ordering: .acquiring) > 0
                || connectionsAwaitingRequest.load(ordering: .acquiring) > 0
        {
            await Self.pause()
        }
        // Answers still being computed will not be waited for: answer 503 and let them go.
        let abandoned = suspended.withLock { connections in
            defer { connections.removeAll() }
            return Array(connections.values)
        }
        for connection in abandoned {
            connection.context.setResponse(
                HTTPServerResponse(
                    status: .serviceUnavailable, headerFields: [.contentType: "text/plain", .connection: "close"],
                    body: Array("shutting down\n".utf8)))
            MHD_resume_connection(connection.pointer)
        }
        let drainDeadline = clock.now + .seconds(1)
        while activeRequests.load(ordering: .acquiring) > 0, clock.now < drainDeadline {
            await Self.pause()
        }
        MHD_stop_daemon(handle.pointer)
        boundPort.store(0, ordering: .releasing)
    }

    /// Ten milliseconds, even in a cancelled task: a stop or hand-over under way (the certificate
    /// reloader is cancelled at shutdown) must go on waiting, not spin.
    private static func pause() async {
        await Task.detached { try? await Task.sleep(for: .milliseconds(10)) }.value
    }
}

/// The daemon pointer. `@unchecked Sendable`: microhttpd's daemon functions used here
/// (quiesce, stop) are documented as callable from any thread, and `HTTPServer` calls each once.
struct DaemonHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// A connection waiting for its answer. `@unchecked Sendable`: the connection pointer is only
/// passed to `MHD_resume_connection`, which is safe from any thread, exactly once (by whoever
/// removes this entry from `HTTPServer.suspended`).
struct SuspendedConnection: @unchecked Sendable {
    let pointer: OpaquePointer
    let context: RequestContext
}
