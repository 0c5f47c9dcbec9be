extension StringProtocol {
    /// This text as error messages and logs show text a caller chose (paths, methods, queries,
    /// names): whitespace and control characters as `?`, at most 128 characters.
    package var printable: String {
        let cleaned = String(
            String.UnicodeScalarView(unicodeScalars.map { $0.properties.isWhitespace || $0.value < 0x20 ? "?" : $0 }))
        return cleaned.count > 128 ? String(cleaned.prefix(128)) + "..." : cleaned
    }
}
