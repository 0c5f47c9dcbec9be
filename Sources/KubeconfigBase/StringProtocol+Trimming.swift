extension StringProtocol {
    /// Without the leading and trailing `isWhitespaceToTrim` scalars: what Foundation's
    /// `trimmingCharacters(in: .whitespaces)` returned.
    package func trimmingWhitespace() -> String {
        trimming { $0.isWhitespaceToTrim }
    }

    /// Without the leading and trailing `isWhitespaceOrNewlineToTrim` scalars: what Foundation's
    /// `trimmingCharacters(in: .whitespacesAndNewlines)` returned.
    package func trimmingWhitespaceAndNewlines() -> String {
        trimming { $0.isWhitespaceOrNewlineToTrim }
    }

    /// Trims by Unicode scalar, not by character, as Foundation did: a space followed by a
    /// combining mark loses the space and keeps the mark.
    private func trimming(_ isTrimmed: (Unicode.Scalar) -> Bool) -> String {
        let scalars = Substring(self).unicodeScalars.drop(while: isTrimmed)
        guard let last = scalars.lastIndex(where: { !isTrimmed($0) }) else { return "" }
        return String(scalars[...last])
    }
}

extension Unicode.Scalar {
    /// Foundation's `CharacterSet.whitespaces` on Linux: tab and the space separators (Zs), and
    /// U+200B ZERO WIDTH SPACE, which CoreFoundation's table still counts.
    fileprivate var isWhitespaceToTrim: Bool {
        switch value {
        case 0x09, 0x20, 0xA0, 0x1680, 0x2000...0x200B, 0x202F, 0x205F, 0x3000: true
        default: false
        }
    }

    /// Foundation's `CharacterSet.whitespacesAndNewlines`: `isWhitespaceToTrim`, U+000A to U+000D,
    /// U+0085 NEXT LINE, U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR.
    fileprivate var isWhitespaceOrNewlineToTrim: Bool {
        switch value {
        case 0x0A...0x0D, 0x85, 0x2028, 0x2029: true
        default: isWhitespaceToTrim
        }
    }
}
