extension StringProtocol {
    /// This text as error messages and logs show text a caller chose (paths, methods, queries,
    /// names): whitespace and control characters as `?`, at most 128 characters.
    package var printable: String {
        // The usual case: short printable ASCII, shown as it is.
        if utf8.count <= 128, utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) { return String(self) }
        let cleaned = String(
            String.UnicodeScalarView(unicodeScalars.map { $0.properties.isWhitespace || $0.value < 0x20 ? "?" : $0 }))
        return cleaned.count > 128 ? String(cleaned.prefix(128)) + "..." : cleaned
    }
}
