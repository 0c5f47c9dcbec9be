import KubeconfigBase
/// Removes the credentials presented to a server from text that server sent back.
///
/// A server's text is data: an API server, a proxy before it or a hostile remote may echo what
/// it was sent, in any encoding. Each credential is removed as it is and as
/// - base64, standard or URL-safe, padded or not, at any byte alignment inside a larger blob
///   (`Bearer <token>`, a JSON document holding it): the whole blob goes, and line breaks
///   inside it do not hide it;
/// - hex, in any case;
/// - percent-encoding (any case, whole or partial) and JSON string escapes (`\/`, `\uXXXX`),
///   also around the other encodings (base64, then percent-encoded);
/// - base64 and hex of the credential as a JSON string holds it (`\"`, `\/`, Go's `\u0026`).
///
/// Encoded forms shorter than `minimumEncodedLength` are not looked for: they would match
/// ordinary words (a credential that short is found only as it is).
public struct CredentialRedaction: Sendable {
    /// What replaces each credential.
    public static let placeholder = "<redacted>"
    /// The shortest encoded form looked for.
    static let minimumEncodedLength = 8

    /// Nothing to remove: for a server that was presented no credential.
    public static let none = CredentialRedaction([])

    let patterns: [Pattern]

    /// Removes `credentials` (each as its `value`, which is what a request carries).
    public init(_ credentials: [BearerToken]) {
        var patterns: [Pattern] = []
        for credential in credentials where !credential.value.isEmpty {
            for pattern in Self.patterns(of: Array(credential.value.utf8)) where !patterns.contains(pattern) {
                patterns.append(pattern)
            }
        }
        self.patterns = patterns
    }

    /// `text` with every credential, in every form above, replaced by `placeholder`.
    public func redact(_ text: String) -> String {
        let source = Array(text.utf8)
        guard !patterns.isEmpty, !source.isEmpty else { return text }
        var found: [Range<Int>] = []
        for view in DecodedText.views(of: source) {
            for pattern in patterns {
                found += view.occurrences(of: pattern)
            }
        }
        guard !found.isEmpty else { return text }
        var redacted: [UInt8] = []
        redacted.reserveCapacity(source.count)
        var position = 0
        for range in Self.merged(found) {
            redacted += source[position..<range.lowerBound]
            redacted += Self.placeholder.utf8
            position = range.upperBound
        }
        redacted += source[position...]
        return String(decoding: redacted, as: UTF8.self)
    }

    /// Ranges sorted, overlapping or touching ones joined.
    static func merged(_ ranges: [Range<Int>]) -> [Range<Int>] {
        var merged: [Range<Int>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, range.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        return merged
    }
}
