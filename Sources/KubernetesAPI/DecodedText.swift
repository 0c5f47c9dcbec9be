import KubeconfigBase

/// A text with one layer of encoding undone (percent-encoding, JSON string escapes, line
/// breaks), each byte remembering the bytes of the original text it came from: what
/// `CredentialRedaction` searches, so that a credential found here is removed there.
struct DecodedText {
    private(set) var bytes: [UInt8]
    /// Where in the original text byte `i` starts and ends.
    private var starts: [Int]
    private var ends: [Int]

    /// The text itself.
    init(_ source: [UInt8]) {
        bytes = source
        starts = Array(source.indices)
        ends = source.indices.map { $0 + 1 }
    }

    private init() {
        bytes = []
        starts = []
        ends = []
    }

    /// The text and its decodings worth searching: percent-decoded, JSON-unescaped, both in
    /// either order, each also without line breaks (base64 wrapped at 76 columns).
    static func views(of source: [UInt8]) -> [DecodedText] {
        let plain = DecodedText(source)
        var views = [plain]
        if let percent = plain.percentDecoded() {
            views.append(percent)
            if let both = percent.jsonUnescaped() { views.append(both) }
        }
        if let json = plain.jsonUnescaped() {
            views.append(json)
            if let both = json.percentDecoded() { views.append(both) }
        }
        return views + views.compactMap { $0.withoutLineBreaks() }
    }

    // MARK: - Decodings

    /// `%XX` (hex digits in any case) read as the byte; nil when there is none.
    func percentDecoded() -> DecodedText? {
        guard bytes.contains(UInt8(ascii: "%")) else { return nil }
        var decoded = DecodedText()
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
                let high = bytes[index + 1].hexDigitValue, let low = bytes[index + 2].hexDigitValue
            {
                decoded.append(high << 4 | low, from: index..<index + 3, of: self)
                index += 3
            } else {
                decoded.append(bytes[index], from: index..<index + 1, of: self)
                index += 1
            }
        }
        return decoded
    }

    /// JSON string escapes (`\"`, `\\`, `\/`, `\n` and the like, `\uXXXX` with surrogate
    /// pairs) read as what they stand for; nil when there is none.
    func jsonUnescaped() -> DecodedText? {
        guard bytes.contains(UInt8(ascii: "\\")) else { return nil }
        var decoded = DecodedText()
        var index = 0
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "\\"), index + 1 < bytes.count else {
                decoded.append(bytes[index], from: index..<index + 1, of: self)
                index += 1
                continue
            }
            if let byte = Self.simpleEscapes[bytes[index + 1]] {
                decoded.append(byte, from: index..<index + 2, of: self)
                index += 2
            } else if case (let scalar, let length)? = unicodeEscape(at: index) {
                for byte in Array(String(Character(scalar)).utf8) {
                    decoded.append(byte, from: index..<index + length, of: self)
                }
                index += length
            } else {
                decoded.append(bytes[index], from: index..<index + 1, of: self)
                index += 1
            }
        }
        return decoded
    }

    /// What follows `\` in JSON's two-character escapes, and what each stands for.
    private static let simpleEscapes: [UInt8: UInt8] = [
        UInt8(ascii: "\""): UInt8(ascii: "\""), UInt8(ascii: "\\"): UInt8(ascii: "\\"),
        UInt8(ascii: "/"): UInt8(ascii: "/"), UInt8(ascii: "b"): 0x08, UInt8(ascii: "f"): 0x0C,
        UInt8(ascii: "n"): 0x0A, UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09,
    ]

    /// The text without CR and LF; nil when it has none.
    func withoutLineBreaks() -> DecodedText? {
        guard bytes.contains(where: { $0 == 0x0A || $0 == 0x0D }) else { return nil }
        var joined = DecodedText()
        for index in bytes.indices where bytes[index] != 0x0A && bytes[index] != 0x0D {
            joined.append(bytes[index], from: index..<index + 1, of: self)
        }
        return joined
    }

    /// `\uXXXX` at `index` (a surrogate pair as one scalar, a lone surrogate as U+FFFD) and
    /// how many bytes it takes.
    private func unicodeEscape(at index: Int) -> (Unicode.Scalar, Int)? {
        guard let unit = hexUnit(at: index) else { return nil }
        if (0xD800..<0xDC00).contains(unit), let low = hexUnit(at: index + 6), (0xDC00..<0xE000).contains(low),
            let scalar = Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
        {
            return (scalar, 12)
        }
        return (Unicode.Scalar(unit) ?? "\u{FFFD}", 6)
    }

    /// The code unit of `\uXXXX` at `index`.
    private func hexUnit(at index: Int) -> UInt32? {
        guard index + 5 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
            return nil
        }
        var unit: UInt32 = 0
        for byte in bytes[(index + 2)...(index + 5)] {
            guard let digit = byte.hexDigitValue else { return nil }
            unit = unit << 4 | UInt32(digit)
        }
        return unit
    }

    /// Appends `byte`, decoded from `range` of `parent`, so it maps to what that range maps to.
    private mutating func append(_ byte: UInt8, from range: Range<Int>, of parent: DecodedText) {
        bytes.append(byte)
        starts.append(parent.starts[range.lowerBound])
        ends.append(parent.ends[range.upperBound - 1])
    }

    // MARK: - Search

    /// The ranges of the original text where `pattern` occurs in this view; a base64 match
    /// grows to the whole run of base64 characters around it.
    func occurrences(of pattern: CredentialRedaction.Pattern) -> [Range<Int>] {
        let needle = pattern.bytes
        guard !needle.isEmpty, needle.count <= bytes.count else { return [] }
        let comparison = pattern.comparison
        let fallback = pattern.fallback
        // Knuth–Morris–Pratt: linear whatever the text, so a hostile answer cannot make this slow.
        var found: [Range<Int>] = []
        var matched = 0
        for index in bytes.indices {
            let byte = CredentialRedaction.Pattern.fold(bytes[index], comparison)
            while matched > 0, byte != needle[matched] { matched = fallback[matched - 1] }
            if byte == needle[matched] { matched += 1 }
            if matched == needle.count {
                var lower = index + 1 - needle.count
                var upper = index + 1
                if comparison == .base64 {
                    while lower > 0, Self.isBase64(bytes[lower - 1]) { lower -= 1 }
                    while upper < bytes.count, Self.isBase64(bytes[upper]) { upper += 1 }
                }
                found.append(starts[lower]..<ends[upper - 1])
                matched = fallback[matched - 1]
            }
        }
        return found
    }

    /// A character of either base64 alphabet, or padding.
    private static func isBase64(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "-"),
            UInt8(ascii: "_"), UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }
}
