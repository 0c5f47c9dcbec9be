import Foundation
import KubeconfigBase
import Testing

@testable import KubernetesAPI

/// Random credentials echoed back in every encoding a server may use, at random places inside
/// larger texts: each is removed whole, and nothing else is.
@Suite struct CredentialRedactionTests {
    /// SplitMix64: the same draws for a seed, so a failure names the seed that reproduces it.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    // MARK: - Credentials

    /// Shaped like a service-account token: three base64url parts joined by dots.
    static func jwtShaped(_ random: inout SeededGenerator) -> String {
        func part(_ text: String) -> String { base64URL(Array(text.utf8), padded: false) }
        let nonce = (0..<16).map { _ in String(UInt8.random(in: 0...255, using: &random), radix: 16) }.joined()
        let signature = (0..<Int.random(in: 24...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        return part(#"{"alg":"RS256","kid":"k"}"#) + "."
            + part(#"{"sub":"system:serviceaccount:apps:bootstrap","n":"\#(nonce)"}"#)
            + "." + base64URL(signature, padded: false)
    }

    /// Any printable ASCII but space: quotes, backslashes, `%`, `/`, `+`, `<` and `&` included.
    static func bytesLike(_ random: inout SeededGenerator) -> String {
        String(
            decoding: (0..<Int.random(in: 16...96, using: &random)).map { _ in UInt8.random(in: 33...126, using: &random) },
            as: UTF8.self)
    }

    // MARK: - Encodings, written here independently of the redaction's own

    static func base64(_ bytes: [UInt8], padded: Bool = true) -> String {
        let text = Data(bytes).base64EncodedString()
        return padded ? text : String(text.prefix { $0 != "=" })
    }

    static func base64URL(_ bytes: [UInt8], padded: Bool) -> String {
        String(base64(bytes, padded: padded).map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
    }

    static func hex(_ text: String, _ random: inout SeededGenerator, case style: Int) -> String {
        text.utf8.map { byte -> String in
            let digits = String(format: "%02x", byte)
            switch style {
            case 0: return digits
            case 1: return digits.uppercased()
            default: return String(digits.map { Bool.random(using: &random) ? Character($0.uppercased()) : $0 })
            }
        }.joined()
    }

    /// `%XX` for the bytes `encode` picks (and for `%` itself, so that it reads back), hex
    /// digits in the case `hexCase` picks.
    static func percentEncoded(
        _ text: String, _ random: inout SeededGenerator, encode: (UInt8, inout SeededGenerator) -> Bool,
        hexCase: (inout SeededGenerator) -> Int
    ) -> String {
        text.utf8.map { byte -> String in
            guard byte == UInt8(ascii: "%") || encode(byte, &random) else { return String(UnicodeScalar(byte)) }
            let digits = String(format: "%02X", byte)
            switch hexCase(&random) {
            case 0: return "%" + digits
            case 1: return "%" + digits.lowercased()
            default: return "%" + String(digits.map { Bool.random(using: &random) ? Character($0.lowercased()) : $0 })
            }
        }.joined()
    }

    /// A JSON string's inside, as an encoder might write it: `"` and `\` escaped, and each
    /// other character by chance as itself, `\uXXXX` (either case) or, for `/`, `\/`.
    static func jsonEscaped(_ text: String, _ random: inout SeededGenerator) -> String {
        text.unicodeScalars.map { scalar -> String in
            let unicode = String(format: "\\u%04x", scalar.value)
            switch (scalar, Int.random(in: 0..<3, using: &random)) {
            case ("\"", 0), ("\\", 0): return "\\" + String(scalar)
            case ("\"", _), ("\\", _), (_, 1):
                return Bool.random(using: &random) ? unicode : unicode.uppercased().replacingOccurrences(of: "\\U", with: "\\u")
            case ("/", 2): return "\\/"
            default: return String(scalar)
            }
        }.joined()
    }

    /// As Go's encoding/json writes a string: `<`, `>` and `&` as `\u003c` and the like.
    static func goJSONString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "<": out += "\\u003c"
            case ">": out += "\\u003e"
            case "&": out += "\\u0026"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func randomBytes(_ count: ClosedRange<Int>, _ random: inout SeededGenerator) -> [UInt8] {
        (0..<Int.random(in: count, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    typealias Encoding = (name: String, encode: @Sendable (String, inout SeededGenerator) -> String)

    /// Every way a server may send a credential back.
    static let encodings: [Encoding] = [
        ("raw", { token, _ in token }),
        ("base64", { token, _ in base64(Array(token.utf8)) }),
        ("base64 unpadded", { token, _ in base64(Array(token.utf8), padded: false) }),
        ("base64url", { token, _ in base64URL(Array(token.utf8), padded: true) }),
        ("base64url unpadded", { token, _ in base64URL(Array(token.utf8), padded: false) }),
        ("base64 of the Authorization header", { token, _ in base64(Array("Bearer \(token)".utf8)) }),
        (
            "base64 of the token between random bytes (any alignment)",
            { token, random in
                base64(randomBytes(0...8, &random) + Array(token.utf8) + randomBytes(0...8, &random))
            }
        ),
        (
            "base64url of the token between random bytes (any alignment)",
            { token, random in
                base64URL(randomBytes(0...8, &random) + Array(token.utf8) + randomBytes(0...8, &random), padded: false)
            }
        ),
        (
            "base64 of a JSON document (Foundation: slashes escaped)",
            { token, _ in
                let document = try? JSONEncoder().encode(["kind": "Echo", "authorization": "Bearer \(token)"])
                return base64(Array(document ?? Data()))
            }
        ),
        (
            "base64 of a JSON document (Go: <, > and & escaped)",
            { token, _ in base64(Array(#"{"headers":{"Authorization":\#(goJSONString("Bearer " + token))}}"#.utf8)) }
        ),
        (
            "base64 wrapped at 76 columns",
            { token, random in
                let blob = base64(randomBytes(40...80, &random) + Array(token.utf8) + randomBytes(0...80, &random))
                var lines: [Substring] = []
                var rest = Substring(blob)
                while !rest.isEmpty {
                    lines.append(rest.prefix(76))
                    rest = rest.dropFirst(76)
                }
                return lines.joined(separator: "\r\n")
            }
        ),
        (
            "base64, percent-encoded",
            { token, random in
                percentEncoded(
                    base64(randomBytes(0...5, &random) + Array(token.utf8)), &random,
                    encode: { byte, _ in byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "=") },
                    hexCase: { Int.random(in: 0...2, using: &$0) })
            }
        ),
        (
            "base64, JSON-escaped",
            { token, random in
                base64(randomBytes(0...5, &random) + Array("Bearer \(token)".utf8)).replacingOccurrences(of: "/", with: "\\/")
            }
        ),
        (
            "percent-encoded, every byte, uppercase hex",
            { token, random in percentEncoded(token, &random, encode: { _, _ in true }, hexCase: { _ in 0 }) }
        ),
        (
            "percent-encoded, every byte, lowercase hex",
            { token, random in percentEncoded(token, &random, encode: { _, _ in true }, hexCase: { _ in 1 }) }
        ),
        (
            "percent-encoded, some bytes, hex in any case",
            { token, random in
                percentEncoded(
                    token, &random, encode: { _, random in Bool.random(using: &random) },
                    hexCase: { Int.random(in: 0...2, using: &$0) })
            }
        ),
        (
            "percent-encoded as a query value",
            { token, random in
                percentEncoded(
                    token, &random,
                    encode: { byte, _ in !(byte.isASCIIAlphanumeric || "-._~".utf8.contains(byte)) },
                    hexCase: { _ in 0 })
            }
        ),
        ("JSON-escaped (\\/, \\uXXXX)", { token, random in jsonEscaped(token, &random) }),
        (
            "JSON-escaped, then percent-encoded",
            { token, random in
                percentEncoded(
                    jsonEscaped(token, &random), &random, encode: { _, random in Bool.random(using: &random) },
                    hexCase: { Int.random(in: 0...2, using: &$0) })
            }
        ),
        ("hex, lowercase", { token, random in hex(token, &random, case: 0) }),
        ("hex, uppercase", { token, random in hex(token, &random, case: 1) }),
        ("hex, mixed case", { token, random in hex(token, &random, case: 2) }),
    ]

    // MARK: - Removed

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func aRandomCredentialIsRemovedWholeInEveryEncodingAndTheTextAroundItStays(seed: UInt64) {
        var random = SeededGenerator(state: seed)
        for round in 0..<16 {
            let token = round.isMultiple(of: 2) ? Self.jwtShaped(&random) : Self.bytesLike(&random)
            let redaction = CredentialRedaction([BearerToken(token)])
            for encoding in Self.encodings {
                let encoded = encoding.encode(token, &random)
                // Words on both sides, at a random offset, separated by characters no encoding uses.
                let before = (0..<Int.random(in: 0...6, using: &random)).map { "w\($0)" }.joined(separator: " ")
                let text = "\(before) echo: \(encoded) (end)"
                let redacted = redaction.redact(text)
                #expect(
                    redacted == "\(before) echo: \(CredentialRedaction.placeholder) (end)",
                    "seed \(seed) round \(round): \(encoding.name) of a \(token.count)-byte token was not removed whole")
                #expect(!redacted.contains(token), "seed \(seed) round \(round): \(encoding.name)")
            }
        }
    }

    @Test(arguments: [UInt64(11), 12, 13])
    func aCredentialEchoedTwiceInDifferentEncodingsGoesEachTime(seed: UInt64) {
        var random = SeededGenerator(state: seed)
        for _ in 0..<20 {
            let token = Self.jwtShaped(&random)
            let redaction = CredentialRedaction([BearerToken("unrelated-other-token"), BearerToken(token)])
            let first = Self.encodings.randomElement(using: &random)!
            let second = Self.encodings.randomElement(using: &random)!
            let text =
                #"{"kind":"Status","message":"a \#(first.encode(token, &random)), b \#(second.encode(token, &random))"}"#
            let redacted = redaction.redact(text)
            let placeholder = CredentialRedaction.placeholder
            #expect(
                redacted == #"{"kind":"Status","message":"a \#(placeholder), b \#(placeholder)"}"#,
                "seed \(seed): \(first.name), then \(second.name)")
        }
    }

    @Test func aCredentialInsideABase64BlobTakesTheWholeBlob() {
        let token = "s3cr3t-bootstrap-token-value"
        let blob = Self.base64(Array(#"{"user":"x","token":"\#(token)","padding":"0123456789"}"#.utf8))
        #expect(CredentialRedaction([BearerToken(token)]).redact("got \(blob)!") == "got <redacted>!")
    }

    // MARK: - Kept

    @Test(arguments: [UInt64(21), 22, 23])
    func textWithoutTheCredentialIsLeftAsItIs(seed: UInt64) {
        var random = SeededGenerator(state: seed)
        for _ in 0..<30 {
            let token = Bool.random(using: &random) ? Self.jwtShaped(&random) : Self.bytesLike(&random)
            let other = Self.jwtShaped(&random)
            let redaction = CredentialRedaction([BearerToken(token)])
            let texts = [
                #"serviceaccounts "deployer" is forbidden: User "system:serviceaccount:apps:bootstrap" cannot create "#
                    + #"resource "serviceaccounts/token" in API group "" in the namespace "apps""#,
                "Unauthorized",
                "another credential: \(other), \(Self.base64(Array(other.utf8))), \(Self.hex(other, &random, case: 0))",
                "a blob: \(Self.base64(Self.randomBytes(64...256, &random)))",
                "a URL: https://edge.example:6443/api/v1/namespaces/a%2Fb/configmaps?fieldSelector=metadata.name%3Dx",
                #"escapes: \/ \u00e9 \"quoted\" \\ and a number 0123456789abcdef0123456789ABCDEF"#,
                "a date 2027-01-15T08:16:40Z and a fingerprint sha256:\(Self.hex("fingerprint", &random, case: 0))",
            ]
            for text in texts {
                #expect(redaction.redact(text) == text, "seed \(seed): \(text.prefix(60))")
            }
        }
    }

    @Test func noCredentialOrAnEmptyOneChangesNothing() {
        let text = "forbidden: Bearer abc %41 \\u0041 QUJD"
        #expect(CredentialRedaction.none.redact(text) == text)
        #expect(CredentialRedaction([BearerToken("")]).redact(text) == text)
    }

    @Test func aShortCredentialIsFoundAsItIsButNotEncoded() {
        // Its encodings are shorter than 8 characters: they would match ordinary words.
        let redaction = CredentialRedaction([BearerToken("abc")])
        #expect(redaction.redact("token abc, base64 YWJj, hex 616263") == "token <redacted>, base64 YWJj, hex 616263")
    }

    // MARK: - The base64 cores

    @Test func eachAlignmentsCoreIsInTheEncodingOfTheBytesAtThatAlignment() {
        var random = SeededGenerator(state: 99)
        for _ in 0..<200 {
            let bytes = Self.randomBytes(1...40, &random)
            let cores = CredentialRedaction.base64Cores(of: bytes)
            for offset in 0..<3 {
                let padded = Self.randomBytes(offset...offset, &random) + bytes + Self.randomBytes(0...4, &random)
                let encoded = Self.base64(padded)
                let core = String(decoding: cores[offset], as: UTF8.self)
                #expect(core.isEmpty || encoded.contains(core), "offset \(offset), \(bytes.count) bytes")
                // Nothing but the bytes' own bits: at least the bits they carry, less what the
                // two partial characters share with the neighbours.
                #expect(core.count >= (8 * bytes.count - 10) / 6)
            }
        }
    }
}

extension UInt8 {
    fileprivate var isASCIIAlphanumeric: Bool {
        (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self)
    }
}
