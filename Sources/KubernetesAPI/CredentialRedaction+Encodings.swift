extension CredentialRedaction {
    // MARK: - Patterns

    /// One form of a credential to look for, with how text is compared with it.
    struct Pattern: Hashable, Sendable {
        enum Comparison: Hashable, Sendable {
            /// Byte for byte.
            case exact
            /// ASCII letters in any case (hex digits).
            case ignoringCase
            /// Base64 in either alphabet (`-_` read as `+/`); a match removes the whole blob it is in.
            case base64
        }

        /// The form, already folded as `comparison` folds the text.
        let bytes: [UInt8]
        let comparison: Comparison
        /// Knuth–Morris–Pratt's table: the length of the longest proper prefix of `bytes[...i]`
        /// that is also its suffix.
        let fallback: [Int]

        init(_ bytes: [UInt8], _ comparison: Comparison) {
            let folded = bytes.map { Self.fold($0, comparison) }
            var fallback = [Int](repeating: 0, count: folded.count)
            var matched = 0
            for index in folded.indices.dropFirst() {
                while matched > 0, folded[index] != folded[matched] { matched = fallback[matched - 1] }
                if folded[index] == folded[matched] { matched += 1 }
                fallback[index] = matched
            }
            self.bytes = folded
            self.comparison = comparison
            self.fallback = fallback
        }

        /// A byte as compared: the same for both sides of a comparison.
        @inline(__always)
        static func fold(_ byte: UInt8, _ comparison: Comparison) -> UInt8 {
            switch comparison {
            case .exact: return byte
            case .ignoringCase: return byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
            case .base64:
                return byte == UInt8(ascii: "-") ? UInt8(ascii: "+") : byte == UInt8(ascii: "_") ? UInt8(ascii: "/") : byte
            }
        }
    }

    /// Every form of `credential` to look for in the decoded views of a text (`DecodedText`),
    /// which undo percent-encoding and JSON escapes themselves.
    static func patterns(of credential: [UInt8]) -> [Pattern] {
        var patterns = [Pattern(credential, .exact)]
        // Inside an encoded JSON document the credential is a JSON string, escaped as its
        // encoder escapes: minimally, as Go does (<, >, &) or as PHP does (/).
        var forms = [credential]
        for form in [
            jsonEscaped(credential, also: []), jsonEscaped(credential, also: Array("<>&".utf8)),
            jsonEscaped(credential, also: Array("/".utf8)),
        ] where !forms.contains(form) {
            forms.append(form)
        }
        for form in forms {
            let hex = Array(hexDigits(form))
            if hex.count >= minimumEncodedLength { patterns.append(Pattern(hex, .ignoringCase)) }
            for core in base64Cores(of: form) where core.count >= minimumEncodedLength {
                patterns.append(Pattern(core, .base64))
            }
        }
        return patterns
    }

    /// The base64 characters that encode nothing but `bytes`, for each of the three positions
    /// `bytes` may start at in a larger encoded blob (after 0, 1 or 2 bytes of a 3-byte group).
    ///
    /// With `offset` bytes before it, the first characters mix in bits of those bytes and the
    /// last one bits of what follows: `ceil(8 * offset / 6)` characters are dropped at the
    /// front, and the encoding stops at `floor(8 * (offset + count) / 6)`.
    static func base64Cores(of bytes: [UInt8]) -> [[UInt8]] {
        (0..<3).map { offset in
            let encoded = base64(Array(repeating: 0, count: offset) + bytes)
            let first = (8 * offset + 5) / 6
            let end = 8 * (offset + bytes.count) / 6
            return first < end ? Array(encoded[first..<end]) : []
        }
    }

    /// Standard base64 without padding.
    static func base64(_ bytes: [UInt8]) -> [UInt8] {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let group = bytes[index..<min(index + 3, bytes.count)]
            var value = 0
            for byte in group { value = value << 8 | Int(byte) }
            value <<= 8 * (3 - group.count)
            for position in 0...group.count {
                out.append(alphabet[(value >> (18 - 6 * position)) & 0x3F])
            }
            index += 3
        }
        return out
    }

    static func hexDigits(_ bytes: [UInt8]) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        return bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0F)]] }
    }

    /// `bytes` as the inside of a JSON string: `"` and `\` escaped, control characters as
    /// `\u00XX`, and each of `also` as `\/` (for `/`) or `\u00XX`.
    static func jsonEscaped(_ bytes: [UInt8], also: [UInt8]) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out += [UInt8(ascii: "\\"), byte]
            case UInt8(ascii: "/") where also.contains(byte):
                out += Array(#"\/"#.utf8)
            case _ where byte < 0x20 || also.contains(byte):
                out += Array(#"\u00"#.utf8) + [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
            default:
                out.append(byte)
            }
        }
        return out
    }
}
