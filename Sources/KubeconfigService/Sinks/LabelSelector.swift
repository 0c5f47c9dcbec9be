import KubeconfigBase

/// A Kubernetes label selector (`env=prod,tier in (edge,core),!legacy`), as `kubectl -l` and the
/// API's `labelSelector` read it: requirements joined by commas, all of which must hold.
///
/// The sinks choose sites with one, over the labels each site was registered with.
public struct LabelSelector: Sendable, Equatable, CustomStringConvertible {
    public enum Requirement: Sendable, Equatable {
        case exists(String)
        case doesNotExist(String)
        case `in`(String, Set<String>)
        case notIn(String, Set<String>)
    }

    public private(set) var requirements: [Requirement]
    /// The selector as written.
    public let description: String

    /// Selects every site.
    public static let everything = LabelSelector(requirements: [], description: "")

    private init(requirements: [Requirement], description: String) {
        self.requirements = requirements
        self.description = description
    }

    /// Parses `text`; an empty one selects everything.
    /// - Throws: `.badRequest` naming what does not parse.
    public init(parsing text: String) throws(ServiceError) {
        var requirements: [Requirement] = []
        for part in try Self.split(text) {
            requirements.append(try Self.requirement(part, in: text))
        }
        self.init(requirements: requirements, description: text.trimmingWhitespace())
    }

    /// Whether `labels` meet every requirement.
    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .exists(let key): labels[key] != nil
            case .doesNotExist(let key): labels[key] == nil
            case .in(let key, let values): labels[key].map(values.contains) ?? false
            case .notIn(let key, let values): labels[key].map { !values.contains($0) } ?? true
            }
        }
    }

    // MARK: - Parsing

    /// The requirements' texts: commas inside parentheses do not split.
    private static func split(_ text: String) throws(ServiceError) -> [String] {
        var parts: [String] = []
        var current = ""
        var depth = 0
        for character in text {
            switch character {
            case "(": depth += 1
            case ")": depth -= 1
            case "," where depth == 0:
                parts.append(current)
                current = ""
                continue
            default: break
            }
            current.append(character)
        }
        parts.append(current)
        let trimmed = parts.map { $0.trimmingWhitespace() }
        if trimmed == [""] { return [] }
        guard !trimmed.contains("") else { throw refusal(text, "has an empty requirement") }
        return trimmed
    }

    private static func requirement(_ part: String, in text: String) throws(ServiceError) -> Requirement {
        if part.hasPrefix("!") {
            let key = String(part.dropFirst()).trimmingWhitespace()
            try checkKey(key, in: text)
            return .doesNotExist(key)
        }
        for (operator_, negated) in [("!=", true), ("==", false), ("=", false)] {
            if let range = part.firstRange(of: operator_) {
                let key = String(part[..<range.lowerBound]).trimmingWhitespace()
                let value = String(part[range.upperBound...]).trimmingWhitespace()
                try checkKey(key, in: text)
                try checkValue(value, in: text)
                return negated ? .notIn(key, [value]) : .in(key, [value])
            }
        }
        let words = part.split(separator: " ", maxSplits: 1).map(String.init)
        if words.count == 2 {
            let key = words[0]
            let rest = words[1].trimmingWhitespace()
            for (keyword, negated) in [("notin", true), ("in", false)] where rest.hasPrefix(keyword) {
                let list = rest.dropFirst(keyword.count).trimmingWhitespace()
                guard list.hasPrefix("("), list.hasSuffix(")") else {
                    throw refusal(text, "needs a list in parentheses after \(keyword), as in \(key) \(keyword) (a,b)")
                }
                let values = list.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false)
                    .map { String($0).trimmingWhitespace() }
                try checkKey(key, in: text)
                for value in values { try checkValue(value, in: text) }
                return negated ? .notIn(key, Set(values)) : .in(key, Set(values))
            }
            throw refusal(text, "does not understand \"\(part.prefix(60))\"")
        }
        try checkKey(part, in: text)
        return .exists(part)
    }

    private static func checkKey(_ key: String, in text: String) throws(ServiceError) {
        guard SiteLabels.isKey(key) else { throw refusal(text, "has an invalid label key \"\(key.prefix(80))\"") }
    }

    private static func checkValue(_ value: String, in text: String) throws(ServiceError) {
        guard SiteLabels.isValue(value) else {
            throw refusal(text, "has an invalid label value \"\(value.prefix(80))\"")
        }
    }

    private static func refusal(_ text: String, _ why: String) -> ServiceError {
        ServiceError(code: .badRequest, message: "label selector \"\(text.prefix(200))\" \(why)")
    }
}
