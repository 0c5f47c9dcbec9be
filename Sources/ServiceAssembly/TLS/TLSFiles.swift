import FoundationEssentials
import MicroHTTPServer

/// A PEM certificate chain and its key, in files (`--tls-cert-file`, `--tls-key-file`).
public struct TLSFiles: Sendable, Equatable {
    /// The files could not be read.
    public struct UnreadableError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Path of the PEM certificate chain.
    public var certificate: String
    /// Path of its PEM private key.
    public var key: String

    public init(certificate: String, key: String) {
        self.certificate = certificate
        self.key = key
    }

    /// The identity the files hold now.
    public func read() throws(UnreadableError) -> HTTPServerConfiguration.TLSIdentity {
        guard let certificatePEM = try? String(contentsOfFile: certificate, encoding: .utf8),
            let keyPEM = try? String(contentsOfFile: key, encoding: .utf8)
        else {
            throw UnreadableError(description: "cannot read --tls-cert-file \(certificate) or --tls-key-file \(key)")
        }
        return HTTPServerConfiguration.TLSIdentity(certificatePEM: certificatePEM, privateKeyPEM: keyPEM)
    }
}
