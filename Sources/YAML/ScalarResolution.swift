/// YAML 1.1's implicit types, as the resolver Yams used (and PyYAML uses) applies them.
///
/// A plain scalar without a tag is, in this order: bool, int, float, merge, null, timestamp,
/// value, or else a string. The rules are the regular expressions of yaml.org/type, matched here
/// by hand over the UTF-8 bytes: every rule can only match ASCII text that is empty or starts
/// with one of a few characters, so names, URLs, base64 and tokens (nearly all of a kubeconfig)
/// are strings after one byte. Like the regular expressions (ICU's `$`), a rule also matches
/// text that ends in one line terminator after a match.
extension YAMLNode {
    /// The tag a plain, untagged scalar resolves to.
    public static func implicitTag(of text: String) -> String {
        guard let first = text.utf8.first else { return YAMLTag.null }
        guard nonStringStarts.contains(first) else { return YAMLTag.str }
        var text = text
        return text.withUTF8 { ImplicitTypeMatcher(Self.trimmingOneLineTerminator($0)).tag }
    }

    /// First bytes that a non-string plain scalar can have: `yes`/`no`/`true`/`false`/`on`/`off`
    /// in their spellings, numbers, `.inf`/`.nan`, `<<`, `~`/`null`, timestamps, `=`.
    /// Also the first bytes of line terminators: a lone one is the empty scalar (null) before it.
    static let nonStringStarts = Set("yYnNtTfFoO+-0123456789.<~=".utf8).union([0x0A, 0x0B, 0x0C, 0x0D, 0xC2, 0xE2])

    /// ICU's `$` also matches before a line terminator that ends the text.
    private static func trimmingOneLineTerminator(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        let count = bytes.count
        func ends(with suffix: [UInt8]) -> Bool {
            count >= suffix.count && zip(bytes[(count - suffix.count)...], suffix).allSatisfy { $0 == $1 }
        }
        let cut: Int
        if ends(with: [0x0D, 0x0A]) {
            cut = 2
        } else if let last = bytes.last, (0x0A...0x0D).contains(last) {
            cut = 1
        } else if ends(with: [0xC2, 0x85]) {
            cut = 2
        } else if ends(with: [0xE2, 0x80, 0xA8]) || ends(with: [0xE2, 0x80, 0xA9]) {
            cut = 3
        } else {
            cut = 0
        }
        return UnsafeBufferPointer(rebasing: bytes[..<(count - cut)])
    }
}

/// Matches the yaml.org/type rules against one scalar's bytes.
private struct ImplicitTypeMatcher {
    let bytes: UnsafeBufferPointer<UInt8>

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    var tag: String {
        if isBool { return YAMLTag.bool }
        if isInt { return YAMLTag.int }
        if isFloat { return YAMLTag.float }
        if equals("<<") { return YAMLTag.merge }
        if bytes.isEmpty || equals("~") || equals("null") || equals("Null") || equals("NULL") { return YAMLTag.null }
        if isTimestamp { return YAMLTag.timestamp }
        if equals("=") { return YAMLTag.value }
        return YAMLTag.str
    }

    private func equals(_ word: StaticString) -> Bool {
        word.utf8CodeUnitCount == bytes.count
            && word.withUTF8Buffer { zip($0, bytes).allSatisfy { $0 == $1 } }
    }

    private static let bools: [StaticString] = [
        "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
        "on", "On", "ON", "off", "Off", "OFF",
    ]

    private var isBool: Bool { Self.bools.contains { equals($0) } }

    // `[-+]?(?:0b[0-1_]+ | 0o?[0-7_]+ | (?:0|[1-9][0-9_]*) | 0x[0-9a-fA-F_]+ | [1-9][0-9_]*(?::[0-5]?[0-9])+)`
    private var isInt: Bool {
        var scanner = Scanner(bytes)
        scanner.skipSign()
        let start = scanner
        if scanner.skip("0b"),
            scanner.skipMany(where: { $0 == .init(ascii: "0") || $0 == .init(ascii: "1") || $0 == underscore }) > 0, scanner.atEnd
        {
            return true
        }
        scanner = start
        if scanner.skip("0x"), scanner.skipMany(where: { isHexDigit($0) || $0 == underscore }) > 0, scanner.atEnd { return true }
        scanner = start
        if scanner.skip("0") {
            var octal = scanner
            _ = octal.skip("o")
            if octal.skipMany(where: { (0x30...0x37).contains($0) || $0 == underscore }) > 0, octal.atEnd { return true }
            if scanner.atEnd { return true }
        }
        scanner = start
        guard scanner.skipOne(where: { (0x31...0x39).contains($0) }) else { return false }
        scanner.skipMany(where: { isDigit($0) || $0 == underscore })
        if scanner.atEnd { return true }
        return scanner.skipSexagesimalGroups() && scanner.atEnd
    }

    // `[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)? | \.[0-9_]+(?:[eE][-+][0-9]+)?
    //  | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]* | [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)`
    private var isFloat: Bool {
        var scanner = Scanner(bytes)
        if scanner.skip("."), scanner.skipMany(where: { isDigit($0) || $0 == underscore }) > 0 {
            if scanner.atEnd { return true }
            if scanner.skipOne(where: { $0 == .init(ascii: "e") || $0 == .init(ascii: "E") }),
                scanner.skipOne(where: { $0 == .init(ascii: "-") || $0 == .init(ascii: "+") }),
                scanner.skipMany(where: isDigit) > 0, scanner.atEnd
            {
                return true
            }
        }
        scanner = Scanner(bytes)
        if scanner.skip("."), scanner.skip("nan") || scanner.skip("NaN") || scanner.skip("NAN"), scanner.atEnd { return true }
        scanner = Scanner(bytes)
        scanner.skipSign()
        let signed = scanner
        if scanner.skip("."), scanner.skip("inf") || scanner.skip("Inf") || scanner.skip("INF"), scanner.atEnd { return true }
        scanner = signed
        guard scanner.skipOne(where: isDigit) else { return false }
        scanner.skipMany(where: { isDigit($0) || $0 == underscore })
        let integerPart = scanner
        // Decimal: optional fraction, optional exponent.
        if scanner.skip(".") { scanner.skipMany(where: { isDigit($0) || $0 == underscore }) }
        if scanner.skipOne(where: { $0 == .init(ascii: "e") || $0 == .init(ascii: "E") }) {
            scanner.skipSign()
            if scanner.skipMany(where: isDigit) > 0, scanner.atEnd { return true }
        } else if scanner.atEnd {
            return true
        }
        // Sexagesimal: groups, then a dot and a fraction.
        scanner = integerPart
        return scanner.skipSexagesimalGroups() && scanner.skip(".")
            && {
                scanner.skipMany(where: { isDigit($0) || $0 == underscore }); return scanner.atEnd
            }()
    }

    // `[0-9]{4}-[0-9]{2}-[0-9]{2}
    //  | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?
    //    (?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?`
    private var isTimestamp: Bool {
        var scanner = Scanner(bytes)
        guard scanner.skipMany(where: isDigit) == 4, scanner.skip("-") else { return false }
        let month = scanner.skipMany(where: isDigit)
        guard (1...2).contains(month), scanner.skip("-") else { return false }
        let day = scanner.skipMany(where: isDigit)
        guard (1...2).contains(day) else { return false }
        if scanner.atEnd { return month == 2 && day == 2 }
        if !scanner.skipOne(where: { $0 == .init(ascii: "T") || $0 == .init(ascii: "t") }) {
            guard scanner.skipMany(where: isBlank) > 0 else { return false }
        }
        guard (1...2).contains(scanner.skipMany(where: isDigit)), scanner.skip(":"),
            scanner.skipMany(where: isDigit) == 2, scanner.skip(":"),
            scanner.skipMany(where: isDigit) == 2
        else { return false }
        if scanner.skip(".") { scanner.skipMany(where: isDigit) }
        if scanner.atEnd { return true }
        scanner.skipMany(where: isBlank)
        if scanner.skip("Z") { return scanner.atEnd }
        guard scanner.skipOne(where: { $0 == .init(ascii: "-") || $0 == .init(ascii: "+") }),
            (1...2).contains(scanner.skipMany(where: isDigit))
        else { return false }
        if scanner.atEnd { return true }
        return scanner.skip(":") && scanner.skipMany(where: isDigit) == 2 && scanner.atEnd
    }
}

private let underscore = UInt8(ascii: "_")
private func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }
private func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
private func isHexDigit(_ byte: UInt8) -> Bool {
    isDigit(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
}

/// A cursor over bytes; every `skip` moves past what it matched, or nowhere when it fails.
private struct Scanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    var atEnd: Bool { index == bytes.count }

    mutating func skip(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count,
            word.withUTF8Buffer({ zip($0, bytes[index..<(index + count)]).allSatisfy { $0 == $1 } })
        else { return false }
        index += count
        return true
    }

    mutating func skipOne(where matches: (UInt8) -> Bool) -> Bool {
        guard index < bytes.count, matches(bytes[index]) else { return false }
        index += 1
        return true
    }

    @discardableResult
    mutating func skipMany(where matches: (UInt8) -> Bool) -> Int {
        let start = index
        while index < bytes.count, matches(bytes[index]) { index += 1 }
        return index - start
    }

    mutating func skipSign() {
        _ = skipOne { $0 == .init(ascii: "-") || $0 == .init(ascii: "+") }
    }

    /// `(?::[0-5]?[0-9])+`: at least one group.
    mutating func skipSexagesimalGroups() -> Bool {
        var groups = 0
        while true {
            let before = index
            guard skip(":") else { break }
            let digitsStart = index
            let digits = skipMany(where: isDigit)
            guard digits == 1 || (digits == 2 && bytes[digitsStart] <= UInt8(ascii: "5")) else {
                index = before
                break
            }
            groups += 1
        }
        return groups > 0
    }
}

// MARK: - Values

extension YAMLNode.Scalar {
    /// The boolean a bool-tagged scalar states (`yes`, `On`, `FALSE`, ...); nil for a string.
    public var boolValue: Bool? {
        guard tag != YAMLTag.str else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: return nil
        }
    }

    /// The integer an int-tagged scalar states, in any of YAML 1.1's notations: `0x1F`, `0o17`,
    /// `017`, `0b101`, `1_000`, `3:25:45`; nil when it does not fit or is not one.
    public var intValue: Int? {
        let digits = text.filter { $0 != "_" }
        if digits == "0" { return 0 }
        let negative = digits.hasPrefix("-")
        let signed = negative || digits.hasPrefix("+")
        let unsigned = digits.dropFirst(signed ? 1 : 0)
        let sign = negative ? "-" : ""
        for (prefix, radix) in [("0x", 16), ("0b", 2), ("0o", 8), ("0", 8)] where unsigned.hasPrefix(prefix) {
            return Int(sign + unsigned.dropFirst(prefix.count), radix: radix)
        }
        if unsigned.contains(":") {
            // Checked: a long run of groups must not overflow.
            var value = 0
            for part in unsigned.split(separator: ":", omittingEmptySubsequences: false) {
                guard let digit = Int(part, radix: 10) else { return nil }
                let (shifted, overflow) = value.multipliedReportingOverflow(by: 60)
                let (sum, carry) = shifted.addingReportingOverflow(digit)
                guard !overflow, !carry else { return nil }
                value = sum
            }
            // Parts may carry signs of their own: the total can be Int.min, which has no negation.
            guard negative else { return value }
            let (negated, overflow) = 0.subtractingReportingOverflow(value)
            return overflow ? nil : negated
        }
        return Int(digits)
    }

    /// The number a float-tagged scalar states: decimal, `.inf`, `.nan`, `190:20:30.15`.
    public var doubleValue: Double? {
        switch text.lowercased() {
        case ".inf", "+.inf": return .infinity
        case "-.inf": return -.infinity
        case ".nan": return .nan
        default:
            let digits = text.filter { $0 != "_" }
            guard digits.contains(":") else { return Double(digits) }
            let negative = digits.hasPrefix("-")
            let unsigned = digits.dropFirst(negative || digits.hasPrefix("+") ? 1 : 0)
            // Base 60: `1:30` is 90.
            var value = 0.0
            for part in unsigned.split(separator: ":", omittingEmptySubsequences: false) {
                guard let digit = Double(part) else { return nil }
                value = value * 60 + digit
            }
            return negative ? -value : value
        }
    }
}
