import HTTPMessages
import HTTPTypes

extension HTTPServerRequest {
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
