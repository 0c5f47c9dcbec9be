import FoundationEssentials
import NIOSSL

/// Why a server's certificate did not verify against the CA trusted, in an operator's words.
///
/// BoringSSL reports every refused chain as `CERTIFICATE_VERIFY_FAILED`; NIOSSL passes on no
/// more. So the certificates the server presents are read again (`presentedChain`, a second
/// handshake that trusts nothing and sends nothing) and compared here with the CA bundle and the
/// clock: who issued them (the issuer's name, and the key identifiers where both carry one) and
/// when they are valid. Signatures are not checked again: a chain that names the CA and is in
/// date but still refused is reported as such, without a cause.
struct CertificateDiagnosis: Sendable, Equatable {
    /// A certificate of the path from the server's certificate to the CA.
    enum Holder: Sendable, Equatable {
        case server
        /// An intermediate the server presents, by its subject.
        case intermediate(String)
        /// The CA certificate trusted.
        case authority
    }

    enum Finding: Sendable, Equatable {
        /// No certificate of the bundle issued the chain: the name of the issuer it names, and
        /// whether a CA of the bundle has that name (another CA named alike: every kubeadm
        /// cluster's is `CN=kubernetes`).
        case notIssuedByAuthority(issuer: String, nameTaken: Bool)
        case expired(Holder, Date)
        case notYetValid(Holder, Date)
        /// The chain names the CA and is in date: the cause is not one this type tells.
        case unexplained
    }

    var finding: Finding

    /// Compares `chain` (as presented, the server's certificate first) with `authorities` at `now`.
    init(chain: [NIOSSLCertificate], authorities: [NIOSSLCertificate], now: Date) {
        guard let server = chain.first else {
            finding = .unexplained
            return
        }
        var path = [server]
        var anchor: NIOSSLCertificate?
        while anchor == nil, path.count <= 8, let current = path.last {
            if authorities.contains(current) {
                anchor = current
            } else if let authority = authorities.first(where: { Self.issued(current, by: $0) }) {
                anchor = authority
            } else if let next = chain.first(where: { !path.contains($0) && Self.issued(current, by: $0) }) {
                path.append(next)
            } else {
                break
            }
        }
        guard let anchor, let last = path.last else {
            let issuer = path.last?.issuerName ?? []
            finding = .notIssuedByAuthority(
                issuer: Self.distinguishedName(issuer),
                nameTaken: authorities.contains { $0.subjectName == issuer })
            return
        }
        var holders: [(NIOSSLCertificate, Holder)] = path.enumerated().map { index, certificate in
            (certificate, index == 0 ? .server : .intermediate(Self.distinguishedName(certificate.subjectName)))
        }
        if last != anchor { holders.append((anchor, .authority)) }
        let seconds = Int(now.timeIntervalSince1970)
        for (certificate, holder) in holders {
            if certificate.notValidAfter < seconds {
                finding = .expired(holder, Date(timeIntervalSince1970: Double(certificate.notValidAfter)))
                return
            }
            if certificate.notValidBefore > seconds {
                finding = .notYetValid(holder, Date(timeIntervalSince1970: Double(certificate.notValidBefore)))
                return
            }
        }
        finding = .unexplained
    }

    /// The finding as the end of `its certificate ...`: `authority` names the CA trusted (`the
    /// site's CA`); names the server chose pass through `redaction`.
    func phrase(authority: String, redaction: CredentialRedaction) -> String {
        func quoted(_ name: String) -> String { "\"\(APIStatus.quotable(redaction.redact(name), limit: 100))\"" }
        func holder(_ holder: Holder) -> String {
            switch holder {
            case .server: return "its certificate"
            case .intermediate(let name): return "the intermediate certificate \(quoted(name)) it presents"
            case .authority: return "\(authority) certificate"
            }
        }
        switch finding {
        case .notIssuedByAuthority(let issuer, let nameTaken):
            return nameTaken
                ? "its certificate is not signed by \(authority) but by another CA of the same name \(quoted(issuer))"
                : "its certificate is not signed by \(authority): it names \(quoted(issuer)) as its issuer"
        case .expired(let which, let date):
            return "\(holder(which)) expired on \(Self.timestamp(date))"
        case .notYetValid(let which, let date):
            return "\(holder(which)) is not valid before \(Self.timestamp(date)) (is a clock wrong?)"
        case .unexplained:
            return "its certificate chain names \(authority) and is in date, but does not verify against it "
                + "(a signature, key usage or constraint it refuses)"
        }
    }

    // MARK: - Reading certificates

    /// Whether `authority` may have issued `certificate`: its subject is the issuer named, and
    /// where both carry key identifiers, they agree.
    static func issued(_ certificate: NIOSSLCertificate, by authority: NIOSSLCertificate) -> Bool {
        guard certificate.issuerName == authority.subjectName, certificate != authority else { return false }
        guard let wanted = authorityKeyIdentifier(of: certificate), let offered = subjectKeyIdentifier(of: authority) else {
            return true
        }
        return wanted == offered
    }

    /// The names a server certificate is for: its DNS and IP subject alternative names, or,
    /// without any, its common name. At most `limit`.
    static func names(of certificate: NIOSSLCertificate, limit: Int = 5) -> [String] {
        var names: [String] = []
        for name in certificate._subjectAlternativeNames() {
            switch name.nameType {
            case .dnsName: names.append(String(decoding: Array(name.contents), as: UTF8.self))
            case .ipAddress: names.append(ipAddress(Array(name.contents)))
            default: break
            }
        }
        if names.isEmpty {
            names = certificate.subjectName.filter { $0.type == .commonName }.map(\.value)
        }
        return Array(names.prefix(limit))
    }

    /// `CN=name, O=organisation` from a certificate's subject or issuer (the attributes an
    /// operator recognises; others left out).
    static func distinguishedName(_ name: [SSLCertificateName]) -> String {
        let labels: [(SSLCertificateNameType, String)] = [
            (.commonName, "CN"), (.organization, "O"), (.organizationalUnit, "OU"), (.city, "L"), (.state, "ST"),
            (.country, "C"),
        ]
        let parts = name.compactMap { part in
            labels.first { $0.0 == part.type }.map { "\($0.1)=\(part.value)" }
        }
        return parts.isEmpty ? "(no name)" : parts.joined(separator: ", ")
    }

    static func timestamp(_ date: Date) -> String {
        Date.ISO8601FormatStyle().format(date)
    }

    private static func ipAddress(_ bytes: [UInt8]) -> String {
        switch bytes.count {
        case 4:
            return bytes.map(String.init).joined(separator: ".")
        case 16:
            return stride(from: 0, to: 16, by: 2).map { String(Int(bytes[$0]) << 8 | Int(bytes[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        default:
            return "(an IP address of \(bytes.count) bytes)"
        }
    }

    // MARK: - Key identifiers (RFC 5280 section 4.2.1.1 and 4.2.1.2)

    private static let subjectKeyIdentifierOID = NIOSSLObjectIdentifier("2.5.29.14")
    private static let authorityKeyIdentifierOID = NIOSSLObjectIdentifier("2.5.29.35")

    /// `SubjectKeyIdentifier ::= KeyIdentifier` (an OCTET STRING).
    static func subjectKeyIdentifier(of certificate: NIOSSLCertificate) -> [UInt8]? {
        guard let value = extensionValue(subjectKeyIdentifierOID, of: certificate),
            case (let tag, let contents, _)? = DERElement.read(value[...]), tag == 0x04
        else { return nil }
        return Array(contents)
    }

    /// `AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT KeyIdentifier OPTIONAL, ... }`.
    static func authorityKeyIdentifier(of certificate: NIOSSLCertificate) -> [UInt8]? {
        guard let value = extensionValue(authorityKeyIdentifierOID, of: certificate),
            case (let tag, let sequence, _)? = DERElement.read(value[...]), tag == 0x30,
            case (let first, let contents, _)? = DERElement.read(sequence), first == 0x80
        else { return nil }
        return Array(contents)
    }

    private static func extensionValue(_ oid: NIOSSLObjectIdentifier?, of certificate: NIOSSLCertificate) -> [UInt8]? {
        guard let oid else { return nil }
        return certificate._extensions.first { $0.objectIdentifier == oid }.map { Array($0.data) }
    }

    /// One DER element: its tag, its contents and what follows it.
    private enum DERElement {
        static func read(_ bytes: ArraySlice<UInt8>) -> (UInt8, ArraySlice<UInt8>, ArraySlice<UInt8>)? {
            var rest = bytes
            guard let tag = rest.popFirst(), let first = rest.popFirst() else { return nil }
            var length = Int(first)
            if first & 0x80 != 0 {
                let count = Int(first & 0x7F)
                guard (1...3).contains(count), rest.count >= count else { return nil }
                length = rest.prefix(count).reduce(0) { $0 << 8 | Int($1) }
                rest = rest.dropFirst(count)
            }
            guard rest.count >= length else { return nil }
            return (tag, rest.prefix(length), rest.dropFirst(length))
        }
    }
}
