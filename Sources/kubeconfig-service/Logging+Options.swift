import ArgumentParser
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

struct LogLevelOption: ExpressibleByArgument, CustomStringConvertible {
    let level: Logger.Level
    var description: String { level.rawValue }
    static let info = LogLevelOption(level: .info)

    init(level: Logger.Level) { self.level = level }

    init?(argument: String) {
        guard let level = Logger.Level(rawValue: argument.lowercased()) else { return nil }
        self.level = level
    }
}

extension CommonOptions {
    /// Sends every log line to standard error, as text or one JSON object a line, through
    /// `LogSink` (off the request path).
    func bootstrapLogging() -> Logger {
        let format = logFormat
        let level = logLevel.level
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, format: format)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "kubeconfig-service")
    }
}

/// One line per event on standard error, through `LogSink`, in either format:
/// - `text`: swift-log's `StreamLogHandler` format (`2026-12-02T09:08:41+0000 info label:
///   key=value [source] message`);
/// - `json`: one object a line, `ts`, `level`, `msg`, `logger` and the metadata, all strings.
struct LineLogHandler: LogHandler {
    let label: String
    let format: LogFormat
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 })
        if let error = event.error {
            fields["error.message"] = "\(error)"
            fields["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        LogSink.standardError.write(format == .json ? json(event, fields) : text(event, fields))
    }

    private func text(_ event: LogEvent, _ fields: Logger.Metadata) -> String {
        var line = LogClock.shared.local() + " \(event.level) \(label):"
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(value)"
        }
        return line + " [\(event.source)] \(event.message)\n"
    }

    // Written by hand: an audit line per request is on the request path, where a date formatter
    // and JSONSerialization per line cost more than serving the request.
    private func json(_ event: LogEvent, _ metadata: Logger.Metadata) -> String {
        var fields = metadata.mapValues { "\($0)" }
        fields["ts"] = LogClock.shared.utc()
        fields["level"] = event.level.rawValue
        fields["msg"] = "\(event.message)"
        fields["logger"] = label
        var line = "{"
        for (index, key) in fields.keys.sorted().enumerated() {
            if index > 0 { line += "," }
            Self.appendJSONString(key, to: &line)
            line += ":"
            Self.appendJSONString(fields[key] ?? "", to: &line)
        }
        return line + "}\n"
    }

    static func appendJSONString(_ string: String, to out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

/// The current second as log lines show it, formatted once a second rather than once a line
/// (`strftime` also checks the time zone file on every call).
final class LogClock: Sendable {
    static let shared = LogClock()

    private struct Formatted {
        var second = 0
        var utc = ""
        var local = ""
    }

    private let formatted = Mutex(Formatted())

    /// `2026-12-02T03:18:30Z`
    func utc() -> String { now().utc }

    /// `2026-12-02T04:18:30+0100`, in the process's time zone.
    func local() -> String { now().local }

    private func now() -> Formatted {
        let second = time(nil)
        return formatted.withLock { formatted in
            if formatted.second != second || formatted.utc.isEmpty {
                var clock = second
                var parts = tm()
                gmtime_r(&clock, &parts)
                formatted.utc = Self.format(parts) + "Z"
                localtime_r(&clock, &parts)
                let offset = parts.tm_gmtoff / 60
                let sign = offset < 0 ? "-" : "+"
                formatted.local = Self.format(parts) + sign + Self.two(abs(offset) / 60) + Self.two(abs(offset) % 60)
                formatted.second = second
            }
            return formatted
        }
    }

    private static func format(_ parts: tm) -> String {
        "\(parts.tm_year + 1900)-\(two(Int(parts.tm_mon) + 1))-\(two(Int(parts.tm_mday)))T"
            + "\(two(Int(parts.tm_hour))):\(two(Int(parts.tm_min))):\(two(Int(parts.tm_sec)))"
    }

    private static func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
