import Testing
import Yams

@testable import YAML

/// The YAML layer against Yams, the library it replaced: the same types for the same scalars,
/// the same bytes for the same trees, the same trees for the same text.
@Suite struct YamsDifferentialTests {
    /// Inputs built from the characters the YAML 1.1 type rules care about.
    static func randomScalars(_ count: Int, using rng: inout some RandomNumberGenerator) -> [String] {
        let alphabet = Array("yYnNtTfFoOeEaAlLuUsS+-0123456789.:_<~=xXbB \tZz\n\r")
        return (0..<count).map { _ in
            String((0..<Int.random(in: 1...8, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
        }
    }

    static let fixedScalars = [
        "", "~", "null", "Null", "NULL", "nulls", "yes", "No", "on", "OFF", "true", "False", "y", "n", "0", "-0",
        "+12", "0x1F", "0o17", "017", "0b101", "1_000", "3:25:45", "-1:30", "1.5", ".5", "-.inf", ".NaN", "1e3",
        "1.0e+3", ".5e+3", "190:20:30.15", "<<", "=", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
        "2001-12-14 21:59:43.10 Z", "2001-1-4 1:59:43", "central", "user00", "https://10.96.0.1:443",
        "LS0tLS1CRUdJTg==", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "v1", "Config", "edge-1", "é", " 1", "1 ",
        "1\n", "true\r\n", "~\u{2028}", "0x", "0o", "0b", "1:60", "1:5:", "9223372036854775807", "9223372036854775808",
        "1" + String(repeating: ":59", count: 40), "+.inf", "._1", "1__", "0_7", "0o_", "-0x_",
    ]

    @Test func plainScalarsResolveToTheTypesYamsResolvesThemTo() {
        var rng = SystemRandomNumberGenerator()
        for text in Self.fixedScalars + Self.randomScalars(20_000, using: &rng) {
            #expect(
                YAMLNode.implicitTag(of: text) == Resolver.default.resolveTag(of: Node(text)).rawValue, "\(text.debugDescription)"
            )
        }
    }

    @Test func typedScalarsStateTheValuesYamsConstructs() {
        var rng = SystemRandomNumberGenerator()
        for text in Self.fixedScalars + Self.randomScalars(20_000, using: &rng) {
            let tag = YAMLNode.implicitTag(of: text)
            let ours = YAMLNode.Scalar(text: text, tag: tag, style: .plain)
            let theirs = Node(text, Tag(Tag.Name(rawValue: tag)))
            if tag == YAMLTag.bool { #expect(ours.boolValue == theirs.bool, "\(text.debugDescription)") }
            // Yams traps on an overflowing base-60 integer; ours answers nil.
            if tag == YAMLTag.int, !text.contains(":") { #expect(ours.intValue == theirs.int, "\(text.debugDescription)") }
            if tag == YAMLTag.float, let expected = theirs.float {
                let value = ours.doubleValue
                #expect(value == expected || (value?.isNaN == true && expected.isNaN), "\(text.debugDescription)")
            }
        }
        #expect(YAMLNode.Scalar(text: "1" + String(repeating: ":59", count: 40), tag: YAMLTag.int, style: .plain).intValue == nil)
        #expect(YAMLNode.Scalar(text: "-1:30", tag: YAMLTag.int, style: .plain).intValue == -90)
        #expect(YAMLNode.Scalar(text: "190:20:30.15", tag: YAMLTag.float, style: .plain).doubleValue == 685_230.15)
    }

    @Test func treesAreWrittenByteForByteAsYamsWroteThem() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<400 {
            let tree = RandomTree.make(depth: 3, using: &rng)
            // Yams wrote line and paragraph separators raw, so that they read back as breaks.
            let yaml = tree.yaml()
            guard !yaml.contains("\\L"), !yaml.contains("\\N") else { continue }
            let ours = tree.yaml()
            let theirs = try Yams.serialize(node: tree.yamsNode, width: -1, allowUnicode: true)
            #expect(ours == theirs)
        }
    }

    @Test func textIsReadIntoTheTreesYamsComposed() throws {
        var rng = SystemRandomNumberGenerator()
        var texts = [
            "a: &x [1, '2', \"3\", !!str 4, ! 5, !!int '6']\nb: *x\nc: |\n  literal\nd: >\n  folded\n",
            "{a: 1, b: {c: [yes, No, ~, 2001-12-14]}}", "- - - deep\n", "? [complex, key]\n: value\n", "<<: {a: 1}\n",
        ]
        for _ in 0..<300 {
            texts.append(try Yams.serialize(node: RandomTree.make(depth: 3, using: &rng).yamsNode, width: -1, allowUnicode: true))
        }
        for text in texts {
            let ours = try YAMLNode.read(text, maxNodes: 100_000)
            let theirs = try Yams.compose(yaml: text).map(YAMLNode.init(yams:))
            #expect(ours == theirs, "\(text)")
            // Style survives too, so that what was quoted is written back quoted.
            #expect(ours.map(\.styles) == theirs.map(\.styles), "\(text)")
        }
    }

    @Test func whatIsWrittenReadsBackAsTheSameTree() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<400 {
            let tree = RandomTree.make(depth: 4, using: &rng)
            let back = try YAMLNode.read(tree.yaml(), maxNodes: 100_000)
            #expect(back == tree, "\(firstDifference(tree, back))")
            #expect(back?.yaml() == tree.yaml())
        }
    }
}

/// Random trees of the shapes a kubeconfig has, with awkward scalars.
enum RandomTree {
    static let texts = [
        "", " ", "a b", " leading", "trailing ", "key: value", "# not a comment", "- dash", "'quoted'", "\"double\"",
        "multi\nline", "multi\nline\n", "tab\there", "é ü ✓", "🙂", "\\back", "true", "123", "0x1F", "1.5", "~", "null",
        "<<", "=", "2001-12-14", "@at", "`tick", "%percent", "&anchor", "*alias", "!tag", "|pipe", ">gt", "{brace",
        "[bracket", ",comma", "?q", "a:b", "https://10.96.0.1:443", "LS0tLS1CRUdJTg==", "central", "\u{85}nel",
        "\u{2028}ls", "ctl\u{7}", "nul\u{0}x", "long " + String(repeating: "x", count: 300),
    ]

    static func scalar(using rng: inout some RandomNumberGenerator) -> YAMLNode {
        let text = texts.randomElement(using: &rng)!
        let style: YAMLNode.Scalar.Style = [.plain, .plain, .singleQuoted, .doubleQuoted, .literal, .folded].randomElement(
            using: &rng)!
        let tag = style == .plain && Bool.random(using: &rng) ? YAMLNode.implicitTag(of: text) : YAMLTag.str
        return .scalar(.init(text: text, tag: tag, style: style))
    }

    static func make(depth: Int, using rng: inout some RandomNumberGenerator) -> YAMLNode {
        make(depth: depth, root: true, using: &rng)
    }

    /// A root is a collection: an empty scalar alone is written as an empty stream.
    private static func make(depth: Int, root: Bool, using rng: inout some RandomNumberGenerator) -> YAMLNode {
        guard depth > 0, root || Int.random(in: 0..<4, using: &rng) > 0 else { return scalar(using: &rng) }
        let count = Int.random(in: 0...4, using: &rng)
        if Bool.random(using: &rng) {
            var seen = Set<String>()
            let pairs = (0..<count).compactMap { _ -> YAMLNode.Pair? in
                // Keys are strings: libyaml (as Yams did) quotes an empty null key, which then
                // reads back as a string.
                guard case .scalar(var key) = scalar(using: &rng), seen.insert(key.text).inserted else { return nil }
                key.tag = YAMLTag.str
                return .init(key: .scalar(key), value: make(depth: depth - 1, root: false, using: &rng))
            }
            return .mapping(pairs)
        }
        return .sequence((0..<count).map { _ in make(depth: depth - 1, root: false, using: &rng) })
    }
}

extension YAMLNode {
    /// The old conversion from Yams' tree, as `DocumentNode` did it.
    init(yams node: Node) {
        switch node {
        case .scalar(let scalar):
            let tag =
                scalar.tag.rawValue == Tag.Name.implicit.rawValue
                ? Resolver.default.resolveTag(of: node).rawValue
                : (scalar.tag.rawValue == "!" ? YAMLTag.str : scalar.tag.rawValue)
            self = .scalar(.init(text: scalar.string, tag: tag, style: .init(yams: scalar.style)))
        case .mapping(let mapping):
            self = .mapping(mapping.map { .init(key: YAMLNode(yams: $0.key), value: YAMLNode(yams: $0.value)) })
        case .sequence(let sequence):
            self = .sequence(sequence.map(YAMLNode.init(yams:)))
        case .alias:
            preconditionFailure("Yams dereferences aliases while composing")
        }
    }

    /// The old conversion to Yams' tree, as `DocumentNode` did it.
    var yamsNode: Node {
        switch self {
        case .scalar(let scalar):
            let style: Node.Scalar.Style =
                switch scalar.emittedStyle {
                case .plain: .plain
                case .singleQuoted: .singleQuoted
                case .doubleQuoted: .doubleQuoted
                case .literal: .literal
                case .folded: .folded
                }
            return .scalar(.init(scalar.text, Tag(Tag.Name(rawValue: scalar.tag)), style))
        case .mapping(let pairs):
            return .mapping(.init(pairs.map { ($0.key.yamsNode, $0.value.yamsNode) }, .implicit, .block))
        case .sequence(let nodes):
            return .sequence(.init(nodes.map(\.yamsNode), .implicit, .block))
        }
    }

    /// Every scalar's style, in document order.
    var styles: [Scalar.Style] {
        switch self {
        case .scalar(let scalar): [scalar.style]
        case .mapping(let pairs): pairs.flatMap { $0.key.styles + $0.value.styles }
        case .sequence(let nodes): nodes.flatMap(\.styles)
        }
    }
}

extension YAMLNode.Scalar.Style {
    init(yams style: Node.Scalar.Style) {
        switch style {
        case .singleQuoted: self = .singleQuoted
        case .doubleQuoted: self = .doubleQuoted
        case .literal: self = .literal
        case .folded: self = .folded
        case .any, .plain: self = .plain
        }
    }
}

/// The first scalar or shape where two trees differ, for a failure message.
func firstDifference(_ lhs: YAMLNode?, _ rhs: YAMLNode?) -> String {
    switch (lhs, rhs) {
    case (.mapping(let a)?, .mapping(let b)?) where a.count == b.count:
        for (x, y) in zip(a, b) where x != y {
            return x.key != y.key ? firstDifference(x.key, y.key) : firstDifference(x.value, y.value)
        }
    case (.sequence(let a)?, .sequence(let b)?) where a.count == b.count:
        for (x, y) in zip(a, b) where x != y { return firstDifference(x, y) }
    default: break
    }
    return "\(String(describing: lhs).prefix(300)) != \(String(describing: rhs).prefix(300))"
}
