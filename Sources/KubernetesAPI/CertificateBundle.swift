import FoundationEssentials
import KubeconfigBase
import NIOSSL

/// The certificates of a PEM bundle (a cluster CA, a client certificate), read for their
/// validity: what a site registration checks and `GET /sites` reports.
public struct CertificateBundle: Sendable, Equatable {
    /// The `notAfter` of each certificate, in bundle order.
    public var notAfter: [Date]

    /// When the first certificate of the bundle stops being valid.
    public var earliestExpiry: Date? { notAfter.min() }

    /// Reads every certificate of `pem`.
    ///
    /// - Throws: `ServiceError` with code `.certificateUnreadable` when the bundle holds no PEM
    ///   certificate or one that does not parse. The message never quotes the bytes.
    public init(pem: [UInt8]) throws(ServiceError) {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(pem)
        } catch {
            throw ServiceError(code: .certificateUnreadable, message: "holds a PEM block that is not a certificate")
        }
        guard !certificates.isEmpty else {
            throw ServiceError(code: .certificateUnreadable, message: "holds no PEM certificate")
        }
        notAfter = certificates.map { Date(timeIntervalSince1970: TimeInterval($0.notValidAfter)) }
    }
}
