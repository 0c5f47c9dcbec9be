/// A failure with a stable machine-readable code and a message an operator can act on.
///
/// The error of the project's domain: each module declares the codes of its own failures in an
/// extension (`ServiceError.Code` is open, not an ever-growing enum), and the HTTP routes map
/// codes to status codes in one place.
/// Messages never contain credentials or library internals: they are built from names, URLs,
/// causes in words (`TransportFailure`) and a server's own `Status.message`, bounded and with
/// every credential presented to it removed (`APIStatus`, `CredentialRedaction`).
public struct ServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable identifier, sent to HTTP callers as `error.code`.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }
    }

    public var code: Code
    public var message: String
    /// Seconds the server asked us to wait (429/503 `Retry-After`), when it said so.
    public var retryAfterSeconds: Int?

    public init(code: Code, message: String, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(code): \(message)" }
}
