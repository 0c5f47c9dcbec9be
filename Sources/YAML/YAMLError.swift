/// Why a text could not be read as one YAML document.
public struct YAMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// libyaml refused the text: bad encoding, bad syntax, an undefined alias.
        case syntax
        /// The stream holds more than one document.
        case severalDocuments
        /// Aliases (or sheer size) expand the document past the node limit.
        case tooManyNodes
        /// Collections nest deeper than the depth limit.
        case tooDeep
        /// A mapping names one key twice.
        case duplicateKey
    }

    public var kind: Kind
    /// One line, for a person: where and what. Quotes at most a bounded part of the text.
    public var message: String

    public var description: String { message }
}
