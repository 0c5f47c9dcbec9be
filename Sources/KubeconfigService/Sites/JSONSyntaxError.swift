import KubeconfigBase

/// Where a body that is not JSON first departs from RFC 8259's grammar, so that a refusal can
/// name the line and column (Foundation's decoder says only "not valid JSON"). Only read after
/// the decoder refused a body: it is a diagnosis, not a parser.
struct JSONSyntaxError: Equatable, CustomStringConvertible {
    /// 1-based; columns count Unicode scalars, not bytes.
    var line: Int
    var column: Int
    var expected: String
    var found: String

    var description: String { "line \(line), column \(column): expected \(expected), found \(found)" }

    /// The first departure from the grammar in `bytes`, or nil when they are well-formed JSON.
    static func find(in bytes: [UInt8]) -> JSONSyntaxError? {
        var scanner = Scanner(bytes: bytes)
        // A byte order mark, which the decoder skips too.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { scanner.index = 3 }
        do throws(Scanner.Failure) {
            scanner.skipWhitespace()
            try scanner.value(depth: 0)
            scanner.skipWhitespace()
            guard scanner.index == bytes.count else { throw Scanner.Failure(expected: "the end of the body") }
            return nil
        } catch {
            return JSONSyntaxError(at: scanner.index, in: bytes, expected: error.expected, inString: error.inString)
        }
    }

    /// Inside a string (a token, say), the character found is not shown: only where it is.
    private init(at offset: Int, in bytes: [UInt8], expected: String, inString: Bool) {
        let before = bytes[..<offset]
        let lineStart = before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        line = before.count { $0 == UInt8(ascii: "\n") } + 1
        // UTF-8 continuation bytes do not start a character.
        column = bytes[lineStart..<offset].count { $0 & 0xC0 != 0x80 } + 1
        self.expected = expected
        if inString, offset < bytes.count, bytes[offset] >= 0x20 {
            found = "another character inside the string"
        } else if offset >= bytes.count {
            found = "the end of the body"
        } else if (0x21...0x7E).contains(bytes[offset]) {
            found = "'\(Character(Unicode.Scalar(bytes[offset])))'"
        } else {
            found =
                (bytes[offset] < 0x20 ? "a control character, " : "") + "byte 0x"
                + String(bytes[offset], radix: 16, uppercase: true)
        }
    }

    private struct Scanner {
        struct Failure: Error {
            var expected: String
            var inString = false
        }

        let bytes: [UInt8]
        var index = 0
        /// Deeper nesting is refused rather than recursed into, as the decoder refuses it.
        static let maxDepth = 512

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws(Failure) {
            guard current == byte else { throw Failure(expected: what) }
            index += 1
        }

        mutating func value(depth: Int) throws(Failure) {
            guard depth < Self.maxDepth else { throw Failure(expected: "at most \(Self.maxDepth) levels of nesting") }
            switch current ?? 0 {
            case UInt8(ascii: "{"): try container(close: UInt8(ascii: "}"), keyed: true, depth: depth)
            case UInt8(ascii: "["): try container(close: UInt8(ascii: "]"), keyed: false, depth: depth)
            case UInt8(ascii: "\""): try string()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default: throw Failure(expected: "a value (an object, array, string, number, true, false or null)")
            }
        }

        mutating func container(close: UInt8, keyed: Bool, depth: Int) throws(Failure) {
            index += 1
            skipWhitespace()
            if current == close {
                index += 1
                return
            }
            let separator = keyed ? "',' or '}'" : "',' or ']'"
            while true {
                if keyed {
                    guard current == UInt8(ascii: "\"") else { throw Failure(expected: "a key in double quotes") }
                    try string()
                    skipWhitespace()
                    try expect(UInt8(ascii: ":"), "':' after the key")
                    skipWhitespace()
                }
                try value(depth: depth + 1)
                skipWhitespace()
                if current == close {
                    index += 1
                    return
                }
                try expect(UInt8(ascii: ","), separator)
                skipWhitespace()
            }
        }

        mutating func string() throws(Failure) {
            index += 1
            while let byte = current {
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return
                case UInt8(ascii: "\\"):
                    index += 1
                    guard let escaped = current, Array("\"\\/bfnrtu".utf8).contains(escaped) else {
                        throw Failure(expected: "an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)", inString: true)
                    }
                    index += 1
                    if escaped == UInt8(ascii: "u") {
                        for _ in 0..<4 {
                            guard current?.hexDigitValue != nil else {
                                throw Failure(expected: "four hex digits after \\u", inString: true)
                            }
                            index += 1
                        }
                    }
                case 0..<0x20:
                    throw Failure(
                        expected: "a closing '\"' (control characters in a string must be escaped)", inString: true)
                default:
                    index += 1
                }
            }
            throw Failure(expected: "a closing '\"'")
        }

        mutating func number() throws(Failure) {
            if current == UInt8(ascii: "-") { index += 1 }
            if current == UInt8(ascii: "0") {
                index += 1
            } else {
                try digits()
            }
            if current == UInt8(ascii: ".") {
                index += 1
                try digits()
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                try digits()
            }
        }

        mutating func digits() throws(Failure) {
            guard let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else {
                throw Failure(expected: "a digit")
            }
            while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
        }

        mutating func literal(_ word: String) throws(Failure) {
            for byte in word.utf8 {
                guard current == byte else { throw Failure(expected: word) }
                index += 1
            }
        }
    }
}
