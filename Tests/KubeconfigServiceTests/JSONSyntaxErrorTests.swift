import Testing

@testable import KubeconfigService

/// Where a body that is not JSON first goes wrong, by line and column.
@Suite struct JSONSyntaxErrorTests {
    func error(_ text: String) -> String? { JSONSyntaxError.find(in: Array(text.utf8))?.description }

    @Test(arguments: [
        #"{}"#, #" {"a": [1, -2.5e+3, 0, true, false, null, "x\"\u00e9\n"], "b": {}} "#, #"[]"#, #""s""#, "12",
    ])
    func wellFormedJSONHasNoError(_ text: String) {
        #expect(error(text) == nil)
    }

    @Test(arguments: [
        (#"{"a": 1,, }"#, "line 1, column 9: expected a key in double quotes, found ','"),
        ("{\n  \"a\": 1\n  \"b\": 2\n}", "line 3, column 3: expected ',' or '}', found '\"'"),
        (#"{"a": tru}"#, "line 1, column 10: expected true, found '}'"),
        (#"{"a": "x"#, "line 1, column 9: expected a closing '\"', found the end of the body"),
        (#"{'a': 1}"#, "line 1, column 2: expected a key in double quotes, found '''"),
        (#"{"a" 1}"#, "line 1, column 6: expected ':' after the key, found '1'"),
        (#"[1, 2] x"#, "line 1, column 8: expected the end of the body, found 'x'"),
        (#"{"é": 01}"#, "line 1, column 8: expected ',' or '}', found '1'"),
        (
            "{\"a\": \"tab\there\"}",
            "line 1, column 11: expected a closing '\"' (control characters in a string must be escaped), found a control character, byte 0x9"
        ),
        (
            #"{"a": "\x"}"#,
            #"line 1, column 9: expected an escape (\" \\ \/ \b \f \n \r \t or \uXXXX), found another character inside the string"#
        ),
        (
            "",
            "line 1, column 1: expected a value (an object, array, string, number, true, false or null), found the end of the body"
        ),
    ])
    func theFirstDepartureIsNamedByLineAndColumn(_ text: String, _ expected: String) {
        #expect(error(text) == expected)
    }

    @Test func deepNestingIsRefusedWithoutRecursingIntoIt() {
        let text = String(repeating: "[", count: 100_000)
        #expect(error(text) == "line 1, column 513: expected at most 512 levels of nesting, found '['")
        // As deep as the decoder reads, the error past it is found.
        #expect(error(String(repeating: "[", count: 300) + "1," + String(repeating: "]", count: 300)) != nil)
        #expect(error(String(repeating: "[", count: 300) + String(repeating: "]", count: 300)) == nil)
    }

    @Test func aByteOrderMarkIsSkippedAsTheDecoderSkipsIt() {
        #expect(error("\u{FEFF}{\"a\": 1,}") == "line 1, column 10: expected a key in double quotes, found '}'")
        #expect(error("\u{FEFF}{}") == nil)
    }

    @Test func aCharacterInsideAStringIsNotShown() {
        // Where a token's bytes are, only the position is said.
        let message = error(#"{"token": "eyJhbG\ciOiJ"}"#)
        #expect(
            message
                == "line 1, column 19: expected an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX), found another character inside the string"
        )
    }
}
