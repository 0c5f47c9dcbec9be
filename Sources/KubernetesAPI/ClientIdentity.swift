import KubeconfigBase
import NIOSSL

/// A client certificate and its private key, as a kubeconfig user holds them.
public struct ClientIdentity: Sendable, Hashable {
    public let certificate: [UInt8]
    public let key: [UInt8]

    /// Checks that `certificate` is a PEM certificate (chain), `key` a PEM private key, and that
    /// the key is the certificate's.
    ///
    /// - Throws: `ServiceError` with code `.certificateUnreadable` or `.keyMismatch`, naming which
    ///   part is wrong and never quoting it.
    public init(certificate: [UInt8], key: [UInt8]) throws(ServiceError) {
        _ = try CertificateBundle(pem: certificate)
        self.certificate = certificate
        self.key = key
        _ = try tlsConfiguration()
    }

    /// A TLS client configuration presenting this identity.
    func tlsConfiguration() throws(ServiceError) -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        let privateKey: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(certificate)
        } catch {
            throw ServiceError(code: .certificateUnreadable, message: "holds a PEM block that is not a certificate")
        }
        do {
            privateKey = try NIOSSLPrivateKey(bytes: key, format: .pem)
        } catch {
            throw ServiceError(code: .keyUnreadable, message: "is not a PEM private key (unencrypted RSA, EC or Ed25519)")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateChain = chain.map { .certificate($0) }
        tls.privateKey = .privateKey(privateKey)
        // BoringSSL checks that the key is the leaf certificate's when both are loaded.
        do {
            _ = try NIOSSLContext(configuration: tls)
        } catch {
            throw ServiceError(code: .keyMismatch, message: "is not the private key of the client certificate")
        }
        return tls
    }
}
