/// Percent-encoding of one part of a URL (RFC 3986 section 2.1): every UTF-8 byte outside the
/// allowed ASCII characters becomes `%XX`, uppercase, as Foundation's `addingPercentEncoding`
/// wrote it. A `%` is never allowed, so a value is encoded as it is, not read as encoded already.
package struct PercentEncoding: Sendable {
    /// A query value: only RFC 3986 `unreserved` (`A-Z a-z 0-9 - . _ ~`), so `=`, `&`, `+`, `/`
    /// and `%` are all encoded.
    package static let queryValue = PercentEncoding(alsoAllowing: "")
    /// A path segment: `unreserved` and `!$&'()*+,=:@`, which is Foundation's `urlPathAllowed`
    /// without `/`. Like `urlPathAllowed`, it encodes `;`, which RFC 3986 would allow.
    package static let pathSegment = PercentEncoding(alsoAllowing: "!$&'()*+,=:@")

    /// One flag per ASCII byte.
    private let allowed: [Bool]

    private init(alsoAllowing extra: String) {
        var allowed = [Bool](repeating: false, count: 128)
        for byte in Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8) + Array(extra.utf8) {
            allowed[Int(byte)] = true
        }
        self.allowed = allowed
    }

    package func encode(_ value: String) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            if byte < 0x80, allowed[Int(byte)] {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0f)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
