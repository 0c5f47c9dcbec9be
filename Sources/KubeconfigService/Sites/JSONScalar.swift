/// A JSON value as a registration field sees it: a string, null, or something else (named).
enum JSONScalar: Decodable, Equatable {
    case string(String)
    case null
    case other(String)

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if (try? container.decode(Bool.self)) != nil {
            self = .other("a boolean")
        } else if (try? container.decode(Double.self)) != nil {
            self = .other("a number")
        } else if (try? container.decode([JSONScalar].self)) != nil {
            self = .other("an array")
        } else {
            self = .other("an object")
        }
    }
}
