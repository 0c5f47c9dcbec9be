/// A YAML tree as a plain `Sendable` value.
///
/// Scalars keep their resolved tag, which drives JSON typing and equality, and their style, so
/// that a quoted `"true"` stays a string when written back. Aliases are expanded while reading
/// (subtrees are shared, not copied: arrays are copy-on-write), so the tree has no anchors.
public enum YAMLNode: Sendable, Hashable {
    public struct Scalar: Sendable, Equatable, Hashable {
        public enum Style: Sendable { case plain, singleQuoted, doubleQuoted, literal, folded }
        /// The text as written, without quotes.
        public var text: String
        /// The resolved tag (`tag:yaml.org,2002:str`, `...:int`, ...).
        public var tag: String
        public var style: Style

        public init(text: String, tag: String, style: Style) {
            self.text = text
            self.tag = tag
            self.style = style
        }

        /// Equality is semantic: `'a'` and `a` are the same string.
        public static func == (lhs: Scalar, rhs: Scalar) -> Bool {
            lhs.text == rhs.text && lhs.tag == rhs.tag
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(text)
            hasher.combine(tag)
        }
    }

    public struct Pair: Sendable, Hashable {
        public var key: YAMLNode
        public var value: YAMLNode

        public init(key: YAMLNode, value: YAMLNode) {
            self.key = key
            self.value = value
        }
    }

    case scalar(Scalar)
    case mapping([Pair])
    case sequence([YAMLNode])
}

/// The tags of YAML 1.1's types (yaml.org/type), as libyaml expands `!!str` and friends.
public enum YAMLTag {
    public static let str = "tag:yaml.org,2002:str"
    public static let int = "tag:yaml.org,2002:int"
    public static let float = "tag:yaml.org,2002:float"
    public static let bool = "tag:yaml.org,2002:bool"
    public static let null = "tag:yaml.org,2002:null"
    public static let merge = "tag:yaml.org,2002:merge"
    public static let timestamp = "tag:yaml.org,2002:timestamp"
    public static let value = "tag:yaml.org,2002:value"
    /// The non-specific tag `!`: a scalar so tagged is a string.
    static let nonSpecific = "!"
}

extension YAMLNode {
    // MARK: - Building

    /// A string scalar that reads back as a string, whatever it looks like (`"123"`, `"true"`).
    public static func string(_ text: String) -> YAMLNode {
        .scalar(Scalar(text: text, tag: YAMLTag.str, style: .plain))
    }

    public static func mapping(_ pairs: KeyValuePairs<String, YAMLNode>) -> YAMLNode {
        .mapping(pairs.map { Pair(key: .string($0.key), value: $0.value) })
    }

    // MARK: - Reading

    public var stringValue: String? {
        guard case .scalar(let scalar) = self, scalar.tag == YAMLTag.str else { return nil }
        return scalar.text
    }

    /// A YAML boolean (`true`, `False`, `yes`, ...); nil for anything else, a quoted "true" included.
    public var boolValue: Bool? {
        guard case .scalar(let scalar) = self, scalar.tag == YAMLTag.bool else { return nil }
        return scalar.boolValue
    }

    public var isNull: Bool {
        if case .scalar(let scalar) = self { return scalar.tag == YAMLTag.null }
        return false
    }

    /// The value under a string key of a mapping; nil for other nodes or absent keys.
    public subscript(key: String) -> YAMLNode? {
        guard case .mapping(let pairs) = self else { return nil }
        return pairs.first { $0.key.stringValue == key }?.value
    }

    /// Sets (or, with nil, removes) the value under a string key, keeping the key's position.
    public mutating func set(_ key: String, _ value: YAMLNode?) {
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
