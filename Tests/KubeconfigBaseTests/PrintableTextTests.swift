import Testing

@testable import KubeconfigBase

/// How text a caller chose is shown (`printable`) and written into JSON (`JSONString`): the
/// fast path taken for plain ASCII gives what the scalar-by-scalar path gives.
@Suite struct PrintableTextTests {
    @Test(arguments: [
        ("edge-1", "edge-1"), ("/kubeconfig", "/kubeconfig"), ("a b", "a?b"), ("tab\there", "tab?here"),
        ("line\nbreak", "line?break"), ("nbsp\u{00A0}x", "nbsp?x"), ("\u{2028}", "?"), ("é✓", "é✓"), ("", ""),
        ("del\u{7F}", "del\u{7F}"), (String(repeating: "x", count: 128), String(repeating: "x", count: 128)),
        (String(repeating: "x", count: 129), String(repeating: "x", count: 128) + "..."),
        (String(repeating: "é", count: 129), String(repeating: "é", count: 128) + "..."),
    ])
    func printableShowsWhitespaceAndControlsAsQuestionMarksAndCutsLongText(_ text: String, _ shown: String) {
        #expect(text.printable == shown)
        #expect(Substring(text).printable == shown)
    }

    @Test(arguments: [
        ("plain", #""plain""#), ("", #""""#), ("say \"hi\"", #""say \"hi\"""#), (#"C:\path"#, #""C:\\path""#),
        ("a\nb\rc\td", #""a\nb\rc\td""#), ("\u{01}\u{1F}\u{7F}", #""\u0001\u001f\u007f""#), ("é ✓ 🙂", "\"é ✓ 🙂\""),
        ("2026-12-07T19:00:00Z", #""2026-12-07T19:00:00Z""#),
    ])
    func jsonStringsEscapeQuotesBackslashesAndControls(_ text: String, _ written: String) {
        var out = "x"
        JSONString.write(text, to: &out)
        #expect(out == "x" + written)
        var bytes: [UInt8] = [UInt8(ascii: "x")]
        JSONString.write(text, to: &bytes)
        #expect(bytes == Array(("x" + written).utf8))
    }
}
