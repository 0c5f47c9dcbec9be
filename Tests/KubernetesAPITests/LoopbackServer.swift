import NIOCore
import NIOPosix
import NIOSSL
import TestFixtures

/// A server on a loopback port for one test: HTTPS with a given certificate, or something
/// that answers a TLS client hello otherwise.
struct LoopbackServer {
    enum Behaviour {
        /// TLS with `certificate` (and `CertificateFixtures.serverKey`); every request gets `answer`.
        case https(certificate: String, answer: String = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        /// Answers the first bytes it reads with `400 Bad Request`, as an HTTP server does.
        case plainHTTP
        /// Sends an SSH banner as soon as it accepts, then waits, as sshd does.
        case sshBanner
        /// Closes every connection once it has read the client's first bytes.
        case closing
    }

    let channel: any Channel
    /// The port bound, kept: a closed channel has no address.
    let port: Int

    var url: String { "https://127.0.0.1:\(port)" }

    static func start(_ behaviour: Behaviour) async throws -> LoopbackServer {
        let context: NIOSSLContext?
        if case .https(let certificate, _) = behaviour {
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificate.utf8)).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(CertificateFixtures.serverKey.utf8), format: .pem)))
            tls.shutdownTimeout = .milliseconds(100)
            context = try NIOSSLContext(configuration: tls)
        } else {
            context = nil
        }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    switch behaviour {
                    case .https(_, let answer):
                        if let context { try pipeline.addHandler(NIOSSLServerHandler(context: context)) }
                        try pipeline.addHandler(Answering(answer: answer, waitForHead: true))
                    case .plainHTTP:
                        try pipeline.addHandler(
                            Answering(
                                answer: "HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request",
                                waitForHead: false))
                    case .sshBanner:
                        try pipeline.addHandler(Greeting(banner: "SSH-2.0-OpenSSH_9.2\r\n"))
                    case .closing:
                        try pipeline.addHandler(Greeting(banner: nil))
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return LoopbackServer(channel: channel, port: channel.localAddress?.port ?? 0)
    }

    func stop() async {
        try? await channel.close()
    }

    /// Writes `answer` once it has read a request's head (or anything, without
    /// `waitForHead`), then closes.
    private final class Answering: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let answer: String
        let waitForHead: Bool
        var received: [UInt8] = []

        init(answer: String, waitForHead: Bool) {
            self.answer = answer
            self.waitForHead = waitForHead
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += Array(buffer: unwrapInboundIn(data))
            guard
                !waitForHead
                    || received.count >= 4
                        && received.indices.dropLast(3).contains(where: {
                            received[$0..<$0 + 4] == [13, 10, 13, 10]
                        })
            else { return }
            received = []
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer))).whenComplete { _ in
                bound.value.close(promise: nil)
            }
        }
    }

    /// Sends `banner` on accepting (and then only waits), or without one closes once it has read
    /// something: a close with unread bytes would be a reset, not the end of the stream.
    private final class Greeting: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let banner: String?

        init(banner: String?) { self.banner = banner }

        func channelActive(context: ChannelHandlerContext) {
            if let banner { context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: banner)), promise: nil) }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if banner == nil { context.close(promise: nil) }
        }
    }
}
