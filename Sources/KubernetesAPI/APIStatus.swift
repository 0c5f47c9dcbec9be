import FoundationEssentials

/// What an API server's error answer may say to a user: the `message` of the Kubernetes
/// `Status` it holds, without any credential the server was presented (`CredentialRedaction`),
/// on one line and bounded. A body that is not a `Status` is never quoted, only described.
struct APIStatus: Sendable, Equatable {
    /// The most of a message quoted, in Unicode scalars.
    static let messageLimit = 300
    /// A message longer than this (in UTF-8 bytes) is not quoted at all: cutting it before the
    /// credentials are removed could leave part of one.
    static let readLimit = 64 << 10

    /// The answer's HTTP status code.
    var httpCode: Int
    /// The `Status.message`, redacted and bounded; nil when there is none to quote.
    var message: String?
    /// What the body was, when `message` is nil: `an empty body`, say.
    var bodyDescription: String
    /// The `Status.reason` (`Forbidden`), when it is one CamelCase word.
    var reason: String?
    /// The `Status.details.retryAfterSeconds`.
    var retryAfterSeconds: Int?

    /// The `Status` of an error answer's body.
    init(httpCode: Int, body: [UInt8], redaction: CredentialRedaction) {
        struct Status: Decodable {
            struct Details: Decodable { var retryAfterSeconds: Int? }
            var kind: String?
            var message: String?
            var reason: String?
            var details: Details?
        }
        guard !body.isEmpty else {
            self.init(httpCode: httpCode, bodyDescription: "an empty body")
            return
        }
        guard let status = try? JSONDecoder().decode(Status.self, from: Data(body)), status.kind == "Status" else {
            self.init(httpCode: httpCode, bodyDescription: "a body that is not a Kubernetes Status (\(body.count) bytes)")
            return
        }
        self.init(httpCode: httpCode, reason: status.reason, message: status.message, redaction: redaction)
        retryAfterSeconds = status.details?.retryAfterSeconds
    }

    /// A `Status` already parsed (a watch's `ERROR` event).
    init(httpCode: Int, reason: String?, message: String?, redaction: CredentialRedaction) {
        self.httpCode = httpCode
        self.reason = reason.flatMap { Self.isWord($0) && redaction.redact($0) == $0 ? $0 : nil }
        switch message {
        case nil, "":
            self.bodyDescription = "a Kubernetes Status without a message"
        case let message? where message.utf8.count > Self.readLimit:
            self.bodyDescription = "a Kubernetes Status whose message is too long to quote (\(message.utf8.count) bytes)"
        case let message?:
            self.bodyDescription = ""
            self.message = Self.quotable(redaction.redact(message))
        }
    }

    private init(httpCode: Int, bodyDescription: String) {
        self.httpCode = httpCode
        self.bodyDescription = bodyDescription
    }

    /// The message, or what the answer was when it has none:
    /// `HTTP 403 with a body that is not a Kubernetes Status (52 bytes)`.
    var text: String {
        message ?? "HTTP \(httpCode) with \(bodyDescription)"
    }

    /// `text` on one line (control and format characters become spaces: a message may not
    /// start a log line of its own or reorder the text around it), at most `limit` Unicode
    /// scalars long. Remove credentials first: a cut could leave part of one.
    static func quotable(_ text: String, limit: Int = messageLimit) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars.prefix(limit) {
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator: scalars.append(" ")
            default: scalars.append(scalar)
            }
        }
        let quoted = String(scalars)
        return text.unicodeScalars.count > limit ? quoted + "..." : quoted
    }

    /// A `reason` as Kubernetes writes them: one CamelCase word.
    private static func isWord(_ text: String) -> Bool {
        (1...64).contains(text.utf8.count)
            && text.utf8.allSatisfy { (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
    }
}
