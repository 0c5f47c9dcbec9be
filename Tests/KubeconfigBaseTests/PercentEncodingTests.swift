import Testing

@testable import KubeconfigBase

/// Path segments and query values are encoded byte by byte as Foundation's
/// `addingPercentEncoding` did with `urlPathAllowed` minus `/`, and with RFC 3986 unreserved.
@Suite struct PercentEncodingTests {
    @Test(arguments: [
        ("a b", "a%20b"), ("a/b", "a%2Fb"), ("k=v", "k=v"), ("é", "%C3%A9"), ("日本", "%E6%97%A5%E6%9C%AC"),
        ("🙂", "%F0%9F%99%82"), ("100%", "100%25"), ("%41", "%2541"), ("a;b?c#d", "a%3Bb%3Fc%23d"),
        ("user:x@y!$&'()*+,", "user:x@y!$&'()*+,"), ("\u{0}\u{7F}", "%00%7F"), ("e\u{301}", "e%CC%81"),
    ])
    func aPathSegmentKeepsTheSubDelimitersButNotSlash(value: String, encoded: String) {
        #expect(PercentEncoding.pathSegment.encode(value) == encoded)
    }

    @Test(arguments: [
        ("a b", "a%20b"), ("a/b", "a%2Fb"), ("metadata.name=kc", "metadata.name%3Dkc"), ("é", "%C3%A9"),
        ("100%", "100%25"), ("a&b+c", "a%26b%2Bc"), ("a-b_c.d~e", "a-b_c.d~e"), ("x:y@z", "x%3Ay%40z"),
    ])
    func aQueryValueKeepsOnlyTheUnreservedCharacters(value: String, encoded: String) {
        #expect(PercentEncoding.queryValue.encode(value) == encoded)
    }

    @Test func theAllowedASCIICharactersAreExactlyTheseSets() {
        func allowed(_ encode: (String) -> String) -> String {
            var kept = ""
            for byte in UInt8(0)..<0x80 {
                let text = String(Unicode.Scalar(byte))
                if encode(text) == text { kept += text }
            }
            return kept
        }
        let letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~"
        #expect(allowed(PercentEncoding.pathSegment.encode) == "!$&'()*+,-.0123456789:=@" + letters)
        #expect(allowed(PercentEncoding.queryValue.encode) == "-.0123456789" + letters)
    }
}
