/// JSON string literals, written by hand where a document or a log line is built as text.
package enum JSONString {
    /// Appends `string` to `out` as a JSON string: quoted, with quotes, backslashes and control
    /// characters (DEL included: a log line stays printable) escaped.
    package static func write(_ string: String, to out: inout String) {
        out.append("\"")
        // The usual case (a name, a path, a time): nothing to escape, appended at once.
        if string.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            out.append(string)
            out.append("\"")
            return
        }
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out.append("\"")
    }

    /// Appends `string` to `out` as a JSON string, as `write(_:to:)` does to a `String`.
    package static func write(_ string: String, to out: inout [UInt8]) {
        if string.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: string.utf8)
            out.append(UInt8(ascii: "\""))
            return
        }
        var escaped = ""
        write(string, to: &escaped)
        out.append(contentsOf: escaped.utf8)
    }
}
