import Testing

@testable import KubeconfigBase

/// Trimming removes what Foundation's `.whitespaces` and `.whitespacesAndNewlines` did, scalar
/// by scalar, and nothing inside the text.
@Suite struct StringTrimmingTests {
    @Test func whitespaceIsTabAndTheSpaceSeparatorsButNoNewline() {
        #expect(" \t a  b \t ".trimmingWhitespace() == "a  b")
        #expect("\u{A0}\u{1680}\u{2000}\u{200A}\u{200B}\u{202F}\u{205F}\u{3000}a\u{3000}".trimmingWhitespace() == "a")
        #expect("\na\r\n".trimmingWhitespace() == "\na\r\n")
        #expect("a\u{2028}".trimmingWhitespace() == "a\u{2028}")
        #expect(" \t ".trimmingWhitespace() == "")
        #expect("".trimmingWhitespace() == "")
        #expect("\u{FEFF}a".trimmingWhitespace() == "\u{FEFF}a")
    }

    @Test func whitespaceAndNewlinesAddsTheLineBreaks() {
        #expect("\n\r\u{0B}\u{0C} token\u{85}\u{2028}\u{2029}\r\n".trimmingWhitespaceAndNewlines() == "token")
        #expect("onap\n".trimmingWhitespaceAndNewlines() == "onap")
        #expect("a\nb".trimmingWhitespaceAndNewlines() == "a\nb")
        #expect("\n \n".trimmingWhitespaceAndNewlines() == "")
    }

    @Test func aCombiningMarkAfterASpaceStaysWhenTheSpaceGoes() {
        #expect(" \u{301}a ".trimmingWhitespace().unicodeScalars.map(\.value) == [0x301, 0x61])
        #expect("a \u{301}".trimmingWhitespace().unicodeScalars.map(\.value) == [0x61, 0x20, 0x301])
    }

    @Test func aSubstringIsTrimmedToo() {
        let header = "\"a\", W/\"b\" "
        #expect(header.split(separator: ",").map { $0.trimmingWhitespace() } == ["\"a\"", "W/\"b\""])
    }
}
