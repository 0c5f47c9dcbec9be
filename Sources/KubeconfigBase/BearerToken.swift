/// A bearer token that cannot be printed by accident.
///
/// `description` and `debugDescription` show a fingerprint, so interpolating a token into a log
/// line, an error or a test failure never reveals it. Use `value` only to build a request.
public struct BearerToken: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String

    public init(_ value: String) { self.value = value }

    /// The first 12 hex digits of the token's SHA-256: enough to tell two tokens apart.
    public var fingerprint: String { String(digest.hexString.prefix(12)) }

    public var description: String { "token(sha256:\(fingerprint))" }
    public var debugDescription: String { description }

    /// The SHA-256 of the token, used as a cache key instead of the token itself.
    public var digest: SHA256.Digest {
        var value = value
        return value.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
    }
}
