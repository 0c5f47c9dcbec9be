import NIOSSL

extension TransportFailure {
    // MARK: - BoringSSL's reasons

    /// A failed handshake, by the reasons on BoringSSL's error stack.
    init(handshake error: BoringSSLError) {
        switch error {
        case .sslError(let stack), .unknownError(let stack):
            if stack.contains(.eofDuringHandshake) {
                self = .closedDuringHandshake
                return
            }
            let reasons = stack.compactMap(Self.reason(of:))
            self =
                reasons.lazy.compactMap(Self.failure(reason:)).first
                ?? .handshakeFailed(nil)
        case .zeroReturn, .syscallError:
            self = .closedDuringHandshake
        default:
            self = .handshakeFailed(nil)
        }
    }

    /// BoringSSL's packed error code, `(library << 24) | reason`, as NIOSSL's description of a
    /// stack entry starts with it in decimal (`Error: 268435581 error:1000007d:SSL routines:...`):
    /// NIOSSL exposes no other way to tell one reason from another.
    static func reason(of error: BoringSSLInternalError) -> (library: Int, reason: Int)? {
        reason(ofDescription: error.description)
    }

    static func reason(ofDescription description: String) -> (library: Int, reason: Int)? {
        let prefix = "Error: "
        guard description.hasPrefix(prefix) else { return nil }
        let digits = description.dropFirst(prefix.count).prefix { $0.isASCII && $0.isNumber }
        guard let packed = UInt32(digits) else { return nil }
        return (Int(packed >> 24 & 0xFF), Int(packed & 0xFFF))
    }

    /// BoringSSL's `ERR_LIB_SSL` and the `SSL_R_*` reasons told apart here (ssl.h).
    enum SSLReason {
        static let library = 16
        static let badPacketLength = 112
        static let certificateVerifyFailed = 125
        static let encryptedLengthTooLong = 146
        static let httpsProxyRequest = 155
        static let httpRequest = 156
        static let noSharedCipher = 184
        static let recordTooLarge = 200
        static let unknownProtocol = 233
        static let unsupportedProtocol = 240
        static let wrongSSLVersion = 246
        static let wrongVersionNumber = 247
        static let noSharedGroup = 266
        /// `SSL_R_SSLV3_ALERT_*` and `SSL_R_TLSV1_ALERT_*`: 1000 plus the alert the peer sent.
        static let alerts = 1000..<1256
    }

    /// The failure one reason stands for; nil for a reason that says nothing to an operator.
    static func failure(reason: (library: Int, reason: Int)) -> TransportFailure? {
        guard reason.library == SSLReason.library else { return nil }
        switch reason.reason {
        case SSLReason.certificateVerifyFailed:
            return .certificateRejected
        case SSLReason.wrongVersionNumber, SSLReason.wrongSSLVersion, SSLReason.httpRequest, SSLReason.httpsProxyRequest,
            SSLReason.unknownProtocol, SSLReason.recordTooLarge, SSLReason.encryptedLengthTooLong,
            SSLReason.badPacketLength:
            // The first bytes back are not a TLS record: `HTTP/1.1 400`, `SSH-2.0-...`.
            return .notTLS
        case SSLReason.noSharedCipher, SSLReason.noSharedGroup, SSLReason.unsupportedProtocol:
            return .handshakeFailed("the server and this service have no TLS version or cipher in common")
        case SSLReason.alerts:
            return .handshakeFailed(alert(reason.reason - SSLReason.alerts.lowerBound))
        default:
            return nil
        }
    }

    /// A TLS alert the server sent (RFC 8446 section 6), in words.
    static func alert(_ code: Int) -> String {
        switch code {
        case 40: return "the server refused the handshake (TLS alert handshake_failure)"
        case 42, 43, 44, 45, 46, 48, 116:
            return "the server refused this service's client certificate, or wants one (TLS alert \(code))"
        case 49: return "the server denied access (TLS alert access_denied)"
        case 70: return "the server does not accept the TLS versions this service offers (TLS alert protocol_version)"
        case 71: return "the server wants a stronger cipher (TLS alert insufficient_security)"
        case 80: return "the server failed during the handshake (TLS alert internal_error)"
        case 112: return "the server does not know the name asked for (TLS alert unrecognized_name)"
        default: return "the server ended the TLS handshake (TLS alert \(code))"
        }
    }
}
