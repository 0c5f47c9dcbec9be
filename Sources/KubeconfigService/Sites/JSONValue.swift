/// A JSON value as a registration body holds it: strictly typed, so that a field of the wrong
/// type is refused with its name rather than read as something else.
package indirect enum JSONValue: Decodable, Equatable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([String: JSONValue])

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// What the value is, for messages: `a string`, `a number`, ...
    var kind: String {
        switch self {
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// Finds a key given twice in one JSON object, at any depth: parsers disagree on which copy
/// counts (Go and Foundation keep the last, others the first), so such a body is ambiguous.
/// Scans the bytes; the body must be valid JSON otherwise (the decoder checks that).
enum JSONDuplicateKeys {
    /// The first key found twice in one object, or nil.
    static func first(in bytes: [UInt8]) -> String? {
        // One set of keys per open object; nil for an open array.
        var open: [Set<[UInt8]>?] = []
        var index = 0
        var expectingKey = false
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "{"):
                open.append([])
                expectingKey = true
            case UInt8(ascii: "["):
                open.append(nil)
                expectingKey = false
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = open.popLast()
                expectingKey = false
            case UInt8(ascii: ","):
                expectingKey = open.last.map { $0 != nil } ?? false
            case UInt8(ascii: ":"):
                expectingKey = false
            case UInt8(ascii: "\""):
                let start = index + 1
                index += 1
                while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                    index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                }
                if expectingKey, case .some(.some(var keys)) = open.last {
                    // Escapes are compared as written: "a" and "\u0061" are told apart, which
                    // errs towards refusing nothing valid.
                    let key = Array(bytes[start..<min(index, bytes.count)])
                    guard keys.insert(key).inserted else { return String(decoding: key, as: UTF8.self) }
                    open[open.count - 1] = keys
                    expectingKey = false
                }
            default:
                break
            }
            index += 1
        }
        return nil
    }
}
