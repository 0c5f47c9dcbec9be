import FoundationEssentials
import NIOCore
import NIOPosix
import NIOSSL

extension CertificateDiagnosis {
    // MARK: - The second handshake

    /// The certificates `host` presents on `port`, as it presents them, or nil when none came
    /// within `timeout`.
    ///
    /// A handshake whose verification callback keeps the chain and refuses it: nothing is
    /// trusted, and the handshake ends before this side sends anything but its hello.
    static func presentedChain(
        host: String, port: Int, serverName: String?, timeout: Duration
    ) async -> [NIOSSLCertificate]? {
        var tls = TLSConfiguration.makeClientConfiguration()
        // Not `.none`: NIOSSL calls no verification callback then. The callback replaces all
        // of BoringSSL's verification, so no roots are needed.
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .certificates([])
        tls.shutdownTimeout = .milliseconds(100)
        guard let context = try? NIOSSLContext(configuration: tls) else { return nil }
        // SNI carries a host name, never an address (NIOSSL refuses one).
        let sni = serverName.flatMap { isAddress($0) ? nil : $0 }
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let chain = eventLoop.makePromise(of: [NIOSSLCertificate].self)
        let deadline = eventLoop.scheduleTask(in: TimeAmount(timeout)) { chain.fail(ChannelError.connectTimeout(.zero)) }
        let connected = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(timeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler(
                        context: context, serverHostname: sni,
                        customVerificationCallback: { certificates, verdict in
                            chain.succeed(certificates)
                            verdict.succeed(.failed)
                        })
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: host, port: port)
        connected.whenComplete { result in
            switch result {
            case .success(let channel):
                // Completing a completed promise does nothing: this only ends a wait for a
                // chain that never came.
                channel.closeFuture.whenComplete { _ in chain.fail(ChannelError.eof) }
            case .failure(let error):
                chain.fail(error)
            }
        }
        let certificates = await withTaskCancellationHandler {
            try? await chain.futureResult.get()
        } onCancel: {
            chain.fail(CancellationError())
        }
        deadline.cancel()
        connected.whenSuccess { $0.close(promise: nil) }
        return certificates
    }

    /// Why `server` (an `https://host[:port]` URL) refused the handshake, as the end of a
    /// sentence about it: the second handshake's findings, or what `failure` alone tells when
    /// that gets no certificates. `serverName` is the name checked when it is not the host
    /// (`tls-server-name`); `authority` names the CA trusted, `certificateAuthority` (`the
    /// site's CA`).
    static func explain(
        _ failure: TransportFailure, server: String, serverName: String?, certificateAuthority: [UInt8],
        authority: String, timeout: Duration, redaction: CredentialRedaction
    ) async -> String {
        let target = hostAndPort(of: server)
        let expected = serverName ?? target?.host ?? server
        var chain: [NIOSSLCertificate]?
        if let target {
            chain = await presentedChain(host: target.host, port: target.port, serverName: expected, timeout: timeout)
        }
        switch failure {
        case .nameMismatch:
            let names = chain?.first.map { CertificateDiagnosis.names(of: $0) } ?? []
            let shown = names.map { "\"\(APIStatus.quotable(redaction.redact($0), limit: 64))\"" }
                .joined(separator: ", ")
            return "its certificate is not valid for the name \"\(expected)\""
                + (names.isEmpty ? "" : " (it is for \(shown))")
        default:
            guard let chain, !chain.isEmpty, let authorities = try? NIOSSLCertificate.fromPEMBytes(certificateAuthority)
            else {
                return "its certificate does not verify against \(authority) (not signed by it, expired or not yet valid)"
            }
            return CertificateDiagnosis(chain: chain, authorities: authorities, now: Date())
                .phrase(authority: authority, redaction: redaction)
        }
    }

    /// The host (brackets of an IPv6 address removed) and port (443 when none) of an
    /// `https://` URL.
    static func hostAndPort(of server: String) -> (host: String, port: Int)? {
        guard server.hasPrefix("https://") else { return nil }
        let authority = server.dropFirst("https://".count).prefix { $0 != "/" && $0 != "?" }
        var host = Substring(authority)
        var port = 443
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if rest.hasPrefix(":") {
                guard let number = Int(rest.dropFirst()) else { return nil }
                port = number
            }
        } else if let colon = host.lastIndex(of: ":") {
            guard let number = Int(host[host.index(after: colon)...]) else { return nil }
            port = number
            host = host[..<colon]
        }
        return host.isEmpty ? nil : (String(host), port)
    }

    /// Whether `host` is an IPv4 or IPv6 address rather than a name.
    static func isAddress(_ host: String) -> Bool {
        host.contains(":") || (!host.isEmpty && host.allSatisfy { $0 == "." || ($0.isASCII && $0.isNumber) })
    }
}
