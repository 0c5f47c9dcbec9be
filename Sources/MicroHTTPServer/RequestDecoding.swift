import KubeconfigBase

/// Turning microhttpd's raw request parts into values, refusing what no valid request has.
///
/// microhttpd 0.9.75 is lenient: it truncates at NUL bytes and accepts conflicting framing
/// headers. Everything it lets through is checked here, and a request with a defect is answered
/// 400 without reaching the application's logic.
enum RequestDecoding {
    /// Percent-decodes a path or query component (`+` is a space in queries), or says why not.
    static func percentDecoded(_ raw: [UInt8], plusIsSpace: Bool) -> Result<String, Defect> {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            let byte = raw[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < raw.count, let high = raw[index + 1].hexDigitValue, let low = raw[index + 2].hexDigitValue
                else { return .failure(Defect("malformed percent-encoding")) }
                bytes.append(high << 4 | low)
                index += 3
            } else {
                bytes.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                index += 1
            }
        }
        if bytes.contains(where: { $0 < 0x20 || $0 == 0x7f }) {
            return .failure(Defect("control characters in the request target"))
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(Defect("the request target is not UTF-8"))
        }
        return .success(text)
    }

    /// Checks the headers that decide where the body ends: disagreement there is how requests
    /// are smuggled past proxies (RFC 9112 section 6.3).
    static func framingDefect(_ headers: [(name: String, value: String)]) -> Defect? {
        let lengths = headers.filter { isNamed($0.name, "content-length") }.map(\.value)
        guard !lengths.isEmpty || headers.contains(where: { isNamed($0.name, "transfer-encoding") }) else { return nil }
        let encodings = headers.filter { isNamed($0.name, "transfer-encoding") }.map(\.value)
        for length in lengths where length.isEmpty || !length.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            return Defect("invalid Content-Length")
        }
        if Set(lengths).count > 1 { return Defect("conflicting Content-Length headers") }
        guard !encodings.isEmpty else { return nil }
        if !lengths.isEmpty { return Defect("both Content-Length and Transfer-Encoding") }
        let codings = encodings.flatMap { $0.split(separator: ",") }.map {
            $0.trimmingWhitespace().lowercased()
        }
        if codings != ["chunked"] { return Defect("unsupported Transfer-Encoding (only chunked is accepted)") }
        return nil
    }

    /// Whether a header name is `lowercaseName`, ignoring ASCII case; allocates nothing.
    static func isNamed(_ name: String, _ lowercaseName: StaticString) -> Bool {
        lowercaseName.withUTF8Buffer { target in
            name.utf8.elementsEqual(target) { byte, lower in
                byte == lower || (lower >= 0x61 && lower <= 0x7a && byte == lower - 0x20)
            }
        }
    }

    struct Defect: Error, Equatable {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }
}

extension Substring {
    func trimmingWhitespace() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
