import FoundationEssentials
import KubeconfigBase

/// What every replica must know of an issued token to agree on when to renew it, kept as an
/// annotation on the document's object and written in the same conditional patch as the token.
///
/// It names the token by fingerprint only, so a token someone altered by hand is noticed, and
/// nothing secret is in the annotation.
public struct TokenRecord: Sendable, Equatable, Codable {
    /// `namespace/name` of the account the token was issued for.
    public var serviceAccount: String
    /// The audiences asked for; empty means the API server's own.
    public var audiences: [String]
    public var issuedAt: Date
    /// `status.expirationTimestamp` of the TokenRequest: what the API server granted.
    public var expiresAt: Date
    /// `BearerToken.fingerprint` of the token this record describes.
    public var fingerprint: String
    /// For a managed site: `ManagedCredential.fingerprint` of the registration it was issued under.
    public var credential: String?

    public init(
        serviceAccount: String, audiences: [String], issuedAt: Date, expiresAt: Date, fingerprint: String,
        credential: String? = nil
    ) {
        self.credential = credential
        self.serviceAccount = serviceAccount
        self.audiences = audiences
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.fingerprint = fingerprint
    }

    /// The annotation holding the record of `location`'s token.
    public static func annotationKey(location: String) -> String { "kubeconfig-service.onap.org/\(annotationName(location))" }

    private static func annotationName(_ location: String) -> String { "token.\(location)" }

    /// Whether `location` can name an annotation (the part after the `/`: at most 63 characters,
    /// alphanumerics, `-`, `_` and `.`, starting and ending alphanumeric).
    public static func isUsable(location: String) -> Bool {
        let name = Array(annotationName(location))
        func alphanumeric(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }
        guard name.count <= 63, let first = name.first, let last = name.last else { return false }
        return alphanumeric(first) && alphanumeric(last)
            && name.allSatisfy { alphanumeric($0) || $0 == "-" || $0 == "_" || $0 == "." }
    }

    /// The record as stored in the annotation: compact JSON, RFC 3339 times.
    public var annotation: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// Reads an annotation; nil when it is not a record (then the token is renewed, not trusted).
    public init?(annotation: String) {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let record = try? decoder.decode(Self.self, from: Data(annotation.utf8)) else { return nil }
        self = record
    }
}
