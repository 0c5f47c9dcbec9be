import AsyncHTTPClient
import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
    import Glibc
#endif

/// Why a request got no answer, as an operator would name it.
///
/// Read from the errors async-http-client, NIO and NIOSSL throw, whose own descriptions are
/// never shown: they name internal types, BoringSSL's error stack and the build tree's paths,
/// and some quote what was sent (an invalid header value would quote `Authorization`).
enum TransportFailure: Sendable, Equatable {
    /// A deadline passed: connecting, the TLS handshake, or the answer.
    case timedOut
    /// The host name did not resolve.
    case unresolved(host: String?)
    case refused
    /// The connection failed otherwise, in the system's words (`connection reset by peer`).
    case connectionFailed(String)
    /// The server closed the connection before a whole answer.
    case closed
    /// The answer's body was larger than what is read of it.
    case answerTooLarge
    /// What answered the TLS handshake does not speak TLS (a plain-HTTP or an SSH port).
    case notTLS
    /// The server closed the connection during the TLS handshake.
    case closedDuringHandshake
    /// The server's certificate chain did not verify against the CA trusted.
    case certificateRejected
    /// The chain verified, but the certificate is not for the name checked.
    case nameMismatch
    /// The TLS handshake failed otherwise: the server's alert or a lack of common ground, in
    /// words, when BoringSSL said which.
    case handshakeFailed(String?)
    /// Something this type does not know: described as a failed connection, nothing more.
    case unknown

    init(_ error: any Error) {
        switch error {
        case is CancellationError:
            self = .timedOut
        case let error as HTTPClientError:
            self = Self(error)
        case let error as NIOConnectionError:
            if let first = error.connectionErrors.first {
                self = Self(first.error)
            } else if error.dnsAError != nil || error.dnsAAAAError != nil {
                self = .unresolved(host: error.host)
            } else {
                self = .unknown
            }
        case is SocketAddressError:
            self = .unresolved(host: nil)
        case let error as ChannelError:
            switch error {
            case .connectTimeout: self = .timedOut
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed: self = .closed
            default: self = .unknown
            }
        case let error as IOError:
            self = Self(errno: error.errnoCode)
        case is NIOTooManyBytesError:
            self = .answerTooLarge
        case let error as NIOSSLError:
            self = Self(error)
        case let error as BoringSSLError:
            self = Self(handshake: error)
        case let error as NIOSSLExtraError:
            self =
                error == .failedToValidateHostname || error == .serverHostnameImpossibleToMatch
                ? .nameMismatch : .handshakeFailed(nil)
        case is NIOSSLCloseTimedOutError:
            self = .closed
        default:
            self = .unknown
        }
    }

    private init(_ error: HTTPClientError) {
        switch error {
        case .deadlineExceeded, .readTimeout, .writeTimeout, .connectTimeout, .tlsHandshakeTimeout,
            .getConnectionFromPoolTimeout, .cancelled:
            self = .timedOut
        case .remoteConnectionClosed, .bodyLengthMismatch:
            self = .closed
        default:
            self = .unknown
        }
    }

    private init(errno code: CInt) {
        switch code {
        case ECONNREFUSED: self = .refused
        case ETIMEDOUT: self = .timedOut
        case EPIPE, ECONNABORTED: self = .closed
        default:
            // strerror's text ("Connection reset by peer"), as an operator reads it elsewhere.
            let text = String(cString: strerror(code))
            self = .connectionFailed(text.prefix(1).lowercased() + text.dropFirst())
        }
    }

    private init(_ error: NIOSSLError) {
        switch error {
        case .handshakeFailed(let cause): self = Self(handshake: cause)
        case .uncleanShutdown: self = .closed
        default: self = .handshakeFailed(nil)
        }
    }
}
