import Yams

/// A YAML tree as a plain `Sendable` value: what `KubeconfigDocument` edits.
///
/// Yams' `Node` is not `Sendable`, and the published document crosses threads, so the
/// document is converted once at the edges (parse, serialise). Scalars keep their resolved
/// tag, which drives JSON typing and equality, and their style, so that a quoted `"true"`
/// stays a string when written back.
enum DocumentNode: Sendable, Equatable {
    struct Scalar: Sendable, Equatable {
        enum Style: Sendable { case plain, singleQuoted, doubleQuoted, literal, folded }
        /// The text as written, without quotes.
        var text: String
        /// The resolved YAML tag name (`tag:yaml.org,2002:str`, `...:int`, ...).
        var tag: String
        var style: Style

        /// Equality is semantic: `'a'` and `a` are the same string.
        static func == (lhs: Scalar, rhs: Scalar) -> Bool {
            lhs.text == rhs.text && lhs.tag == rhs.tag
        }
    }

    struct Pair: Sendable, Equatable {
        var key: DocumentNode
        var value: DocumentNode
    }

    case scalar(Scalar)
    case mapping([Pair])
    case sequence([DocumentNode])

    // MARK: - Building

    /// A string scalar that reads back as a string, whatever it looks like (`"123"`, `"true"`).
    static func string(_ text: String) -> DocumentNode {
        .scalar(Scalar(text: text, tag: Tag.Name.str.rawValue, style: .plain))
    }

    static func mapping(_ pairs: KeyValuePairs<String, DocumentNode>) -> DocumentNode {
        .mapping(pairs.map { Pair(key: .string($0.key), value: $0.value) })
    }

    // MARK: - Reading

    var stringValue: String? {
        guard case .scalar(let scalar) = self, scalar.tag == Tag.Name.str.rawValue else { return nil }
        return scalar.text
    }

    /// A YAML boolean (`true`, `False`, ...); nil for anything else, a quoted "true" included.
    var boolValue: Bool? {
        guard case .scalar(let scalar) = self, scalar.tag == Tag.Name.bool.rawValue else { return nil }
        return Node(scalar.text, Tag(.bool)).bool
    }

    var isNull: Bool {
        if case .scalar(let scalar) = self { return scalar.tag == Tag.Name.null.rawValue }
        return false
    }

    /// The value under a string key of a mapping; nil for other nodes or absent keys.
    subscript(key: String) -> DocumentNode? {
        guard case .mapping(let pairs) = self else { return nil }
        return pairs.first { $0.key.stringValue == key }?.value
    }

    /// Sets (or, with nil, removes) the value under a string key, keeping the key's position.
    mutating func set(_ key: String, _ value: DocumentNode?) {
        guard case .mapping(var pairs) = self else { return }
        if let index = pairs.firstIndex(where: { $0.key.stringValue == key }) {
            if let value {
                pairs[index].value = value
            } else {
                pairs.remove(at: index)
            }
        } else if let value {
            pairs.append(Pair(key: .string(key), value: value))
        }
        self = .mapping(pairs)
    }
}

// MARK: - Conversion to and from Yams

extension DocumentNode {
    /// Converts a composed tree.
    init(_ node: Node) {
        switch node {
        case .scalar(let scalar):
            let tag =
                scalar.tag.rawValue == Tag.Name.implicit.rawValue
                ? Self.implicitTag(of: scalar.string) : Resolver.default.resolveTag(of: node)
            self = .scalar(Scalar(text: scalar.string, tag: tag.rawValue, style: Scalar.Style(scalar.style)))
        case .mapping(let mapping):
            self = .mapping(mapping.map { Pair(key: DocumentNode($0.key), value: DocumentNode($0.value)) })
        case .sequence(let sequence):
            self = .sequence(sequence.map(DocumentNode.init))
        case .alias:
            // Yams dereferences aliases while composing; an unresolved one cannot reach here.
            self = .scalar(Scalar(text: "", tag: Tag.Name.null.rawValue, style: .plain))
        }
    }

    /// The tag a plain scalar resolves to under Yams' default rules (YAML 1.1's bool, int, float,
    /// merge, null, timestamp, value).
    ///
    /// Those rules are regular expressions run one after the other, costly on long scalars (a
    /// CA bundle, a token) and run for every scalar read or written. Every one of them can only
    /// match text that is empty or starts with one of a few characters, so other text (names,
    /// URLs, base64, tokens: nearly all of a kubeconfig) is a string without running them.
    static func implicitTag(of text: String) -> Tag.Name {
        guard let first = text.utf8.first, !nonStringStarts.contains(first) else {
            return Resolver.default.resolveTag(of: Node(text))
        }
        return .str
    }

    /// First bytes that a non-string plain scalar can have: `yes`/`no`/`true`/`false`/`on`/`off`
    /// in their spellings, numbers, `.inf`/`.nan`, `<<`, `~`/`null`, timestamps, `=`.
    static let nonStringStarts = Set("yYnNtTfFoO+-0123456789.<~=".utf8)

    /// Whether a composed tree has more than `limit` nodes, counting without converting.
    ///
    /// Yams expands aliases by sharing subtrees, so a few lines of YAML can stand for billions
    /// of nodes ("billion laughs"); such a tree must be refused before anything walks it fully.
    static func exceeds(_ limit: Int, _ node: Node) -> Bool {
        var remaining = limit
        func visit(_ node: Node) -> Bool {
            remaining -= 1
            guard remaining >= 0 else { return false }
            switch node {
            case .scalar, .alias: return true
            case .mapping(let mapping): return mapping.allSatisfy { visit($0.key) && visit($0.value) }
            case .sequence(let sequence): return sequence.allSatisfy(visit)
            }
        }
        return !visit(node)
    }

    var yamsNode: Node {
        switch self {
        case .scalar(let scalar):
            return .scalar(.init(scalar.text, Tag(Tag.Name(rawValue: scalar.tag)), scalar.emittedStyle))
        case .mapping(let pairs):
            return .mapping(.init(pairs.map { ($0.key.yamsNode, $0.value.yamsNode) }, .implicit, .block))
        case .sequence(let nodes):
            return .sequence(.init(nodes.map(\.yamsNode), .implicit, .block))
        }
    }
}

extension DocumentNode.Scalar {
    /// The style to write: a string whose plain form would read back as another type is quoted.
    var emittedStyle: Node.Scalar.Style {
        switch style {
        case .singleQuoted: return .singleQuoted
        case .doubleQuoted: return .doubleQuoted
        case .literal: return .literal
        case .folded: return .folded
        case .plain:
            guard tag == Tag.Name.str.rawValue else { return .plain }
            return DocumentNode.implicitTag(of: text) == .str ? .plain : .singleQuoted
        }
    }
}

extension DocumentNode.Scalar.Style {
    init(_ style: Node.Scalar.Style) {
        switch style {
        case .singleQuoted: self = .singleQuoted
        case .doubleQuoted: self = .doubleQuoted
        case .literal: self = .literal
        case .folded: self = .folded
        case .any, .plain: self = .plain
        }
    }
}
