import Testing

@testable import YAML

/// What the reader refuses, and how it says so.
@Suite struct YAMLReadingTests {
    func refusal(_ text: String, maxNodes: Int = 1000) -> YAMLError? {
        do {
            _ = try YAMLNode.read(text, maxNodes: maxNodes)
            return nil
        } catch {
            return error
        }
    }

    @Test func emptyStreamsHoldNoDocument() throws {
        for text in ["", "  \n", "# only a comment\n"] {
            #expect(try YAMLNode.read(text, maxNodes: 10) == nil)
        }
        #expect(try YAMLNode.read("~\n", maxNodes: 10)?.isNull == true)
    }

    @Test func syntaxErrorsSayWhereAndWhat() throws {
        let error = try #require(refusal("clusters: [unclosed"))
        #expect(error.kind == .syntax)
        #expect(error.message.hasPrefix("line 2, column 1: while parsing a flow sequence"), "\(error.message)")
        #expect(refusal("a: b: c")?.message.contains("mapping values are not allowed") == true)
        #expect(refusal("a: \u{1}")?.message.contains("control characters are not allowed") == true)
        #expect(refusal("a: *nowhere")?.message == "line 1, column 4: found undefined alias")
    }

    @Test func severalDocumentsAreRefused() {
        #expect(refusal("a: 1\n---\nb: 2\n")?.kind == .severalDocuments)
        #expect(refusal("--- a\n--- b\n")?.kind == .severalDocuments)
    }

    @Test func aKeyNamedTwiceIsRefused() throws {
        let error = try #require(refusal("a: 1\nb: 2\na: 3\n"))
        #expect(error.kind == .duplicateKey)
        #expect(error.message == "line 3, column 1: a mapping names the key 'a' twice")
        // The same text with another type is another key; the same string quoted is the same.
        #expect(refusal("1: a\n'1': b\n") == nil)
        #expect(refusal("a: 1\n'a': 2\n")?.kind == .duplicateKey)
        #expect(refusal("? [x]\n: 1\n? [x]\n: 2\n")?.kind == .duplicateKey)
        #expect(
            refusal("k\(String(repeating: "x", count: 500)): 1\nk\(String(repeating: "x", count: 500)): 2\n")!.message.count < 150
        )
    }

    @Test func aliasesCountAsTheNodesTheyStandFor() throws {
        // Ten levels of tenfold aliases: ten billion nodes in under 300 bytes.
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            let previous = "*a\(level - 1)"
            text += "a\(level): &a\(level) [\(Array(repeating: previous, count: 10).joined(separator: ", "))]\n"
        }
        let error = try #require(refusal(text, maxNodes: 500_000))
        #expect(error.kind == .tooManyNodes)
        // Under the limit, an alias reads as a copy of what it names.
        let node = try #require(try YAMLNode.read("a: &x {b: 1}\nc: *x\n", maxNodes: 10))
        #expect(node["c"] == node["a"])
        #expect(refusal("a: &x {b: 1}\nc: *x\n", maxNodes: 6)?.kind == .tooManyNodes)
    }

    @Test func deepNestingIsRefusedNotRecursedInto() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        // libyaml's scanner refuses flow collections 1000 deep before any event reaches us.
        let flow = refusal(deep, maxNodes: 1_000_000)
        #expect(flow?.message.contains("Maximum nesting level") == true, "\(String(describing: flow))")
        // Block collections are counted by the composer.
        let block = String(repeating: "- ", count: 100_000) + "x\n"
        #expect(refusal(block, maxNodes: 1_000_000)?.kind == .tooDeep)
        let fine = String(repeating: "[", count: YAMLNode.maxDepth) + String(repeating: "]", count: YAMLNode.maxDepth)
        #expect(refusal(fine, maxNodes: 1_000_000) == nil)
    }

    @Test func aliasesCannotNestPastTheDepthLimit() throws {
        // Each anchor nests 200 levels and holds the previous one: two are 400 levels deep.
        let open = String(repeating: "[", count: 200)
        let close = String(repeating: "]", count: 200)
        let text = "- &a0 \(open)x\(close)\n- &a1 \(open)*a0\(close)\n"
        let error = try #require(refusal(text, maxNodes: 1_000_000))
        #expect(error.kind == .tooDeep, "\(error)")
        // The same alias where it fits is read.
        #expect(refusal("- &a0 \(open)x\(close)\n- *a0\n", maxNodes: 1_000_000) == nil)
    }

    @Test func collectionKeysAreCheckedForDuplicatesInLinearTime() throws {
        // 20,000 distinct sequence keys: a quadratic check would compare 200 million pairs.
        let text = "{" + (0..<20_000).map { "[\($0)]: 0" }.joined(separator: ", ") + "}"
        guard case .mapping(let pairs) = try #require(try YAMLNode.read(text, maxNodes: 1_000_000)) else {
            Issue.record("not a mapping")
            return
        }
        #expect(pairs.count == 20_000)
        #expect(refusal("{[1, {a: b}]: 0, [1, {a: b}]: 1}")?.kind == .duplicateKey)
    }

    @Test func signedBase60IntegersNeverTrap() throws {
        // Parts with signs of their own can sum to Int.min, which has no negation.
        let node = try #require(try YAMLNode.read("x: !!int --1:-9223372036854775748\n", maxNodes: 10))
        guard case .scalar(let scalar) = try #require(node["x"]) else {
            Issue.record("not a scalar")
            return
        }
        #expect(scalar.tag == YAMLTag.int)
        #expect(scalar.intValue == nil)
        #expect(YAMLNode.Scalar(text: "-1:30", tag: YAMLTag.int, style: .plain).intValue == -90)
    }

    @Test func scalarsKeepNulAndAreTypedByStyle() throws {
        let node = try #require(try YAMLNode.read("a: \"x\\0y\"\nb: 'true'\nc: true\nd: !!str 12\ne: ! 12\n", maxNodes: 100))
        #expect(node["a"]?.stringValue == "x\u{0}y")
        #expect(node["b"]?.stringValue == "true")
        #expect(node["c"]?.boolValue == true)
        #expect(node["d"]?.stringValue == "12")
        #expect(node["e"]?.stringValue == "12")
    }
}
