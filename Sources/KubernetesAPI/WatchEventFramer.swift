import KubeconfigBase
/// Splits a watch's byte stream into its JSON events, as client-go's JSON framer does: one
/// top-level JSON object after another, whatever whitespace (the API server's newline) lies
/// between, and whatever chunk boundaries cut them.
struct WatchEventFramer {
    /// Largest event accepted: an object of at most 1 MiB of data, JSON-escaped, fits.
    let maxEventBytes: Int
    private var buffer: [UInt8] = []
    /// Where scanning resumes in `buffer`, and the scanner's state there.
    private var scanned = 0
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var start: Int?

    init(maxEventBytes: Int) {
        self.maxEventBytes = maxEventBytes
    }

    /// Adds bytes read from the stream.
    mutating func append(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete event, or nil until more bytes arrive.
    ///
    /// - Throws: `.apiProtocol` for bytes outside an object that are not whitespace, or an event
    ///   larger than `maxEventBytes`.
    mutating func next() throws(ServiceError) -> [UInt8]? {
        while scanned < buffer.count {
            let byte = buffer[scanned]
            defer { scanned += 1 }
            if start == nil {
                switch byte {
                case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                    continue
                case UInt8(ascii: "{"):
                    start = scanned
                    depth = 1
                    continue
                default:
                    throw ServiceError(code: .apiProtocol, message: "the watch stream holds something other than JSON objects")
                }
            }
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0, let first = start {
                    let event = Array(buffer[first...scanned])
                    buffer.removeSubrange(0...scanned)
                    scanned = -1  // the deferred increment makes it 0
                    start = nil
                    return event
                }
            default: break
            }
        }
        if let start, buffer.count - start > maxEventBytes {
            throw ServiceError(
                code: .apiProtocol, message: "a watch event is larger than \(maxEventBytes) bytes; the stream is abandoned")
        }
        return nil
    }
}
