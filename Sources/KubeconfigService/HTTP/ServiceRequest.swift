import HTTPTypes

/// An HTTP request as routes see it: already parsed, body already read.
public struct ServiceRequest: Sendable {
    public var method: HTTPRequest.Method
    /// The path, percent-decoded, without the query.
    public var path: String
    /// Query arguments, decoded, in order.
    public var query: [(name: String, value: String)]
    public var headerFields: HTTPFields
    public var body: [UInt8]
    /// The body was larger than the server accepts and was not kept.
    public var bodyTooLarge: Bool
    /// Why the HTTP layer found the request malformed, if it did: it is answered 400.
    public var malformed: String?

    public init(
        method: HTTPRequest.Method, path: String, query: [(name: String, value: String)] = [],
        headerFields: HTTPFields = [:], body: [UInt8] = [], bodyTooLarge: Bool = false, malformed: String? = nil
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headerFields = headerFields
        self.body = body
        self.bodyTooLarge = bodyTooLarge
        self.malformed = malformed
    }

    /// The first value of a header field, as sent.
    public func header(_ name: HTTPField.Name) -> String? {
        headerFields.first { $0.name == name }?.value
    }

    public func queryValue(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }

    /// Paths, methods and queries are attacker-chosen: error messages and logs show them short
    /// and printable.
    static func printable(_ text: String) -> String {
        let cleaned = String(
            String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.isWhitespace || $0.value < 0x20 ? "?" : $0 }))
        return cleaned.count > 128 ? String(cleaned.prefix(128)) + "..." : cleaned
    }
}
