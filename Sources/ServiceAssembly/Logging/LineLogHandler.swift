import KubeconfigBase
import Logging

/// How log lines are written: as text or one JSON object a line.
public enum LogFormat: String, CaseIterable, Sendable {
    case text, json
}

/// One line per event, through a `LogSink` (standard error), in either format:
/// - `text`: swift-log's `StreamLogHandler` format (`2026-12-02T09:08:41+0000 info label:
///   key=value [source] message`);
/// - `json`: one object a line, `ts`, `level`, `msg`, `logger` and the metadata, all strings.
public struct LineLogHandler: LogHandler {
    public let label: String
    public let format: LogFormat
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let sink: LogSink

    public init(label: String, format: LogFormat, sink: LogSink = .standardError) {
        self.label = label
        self.format = format
        self.sink = sink
    }

    /// Sends every log line of the process to standard error in `format` from `level` up,
    /// through `LogSink` (off the request path); returns the service's logger.
    public static func bootstrap(format: LogFormat, level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, format: format)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "kubeconfig-service")
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 })
        if let error = event.error {
            fields["error.message"] = "\(error)"
            fields["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        sink.write(format == .json ? json(event, fields) : text(event, fields))
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
            JSONString.write(key, to: &line)
            line += ":"
            JSONString.write(fields[key] ?? "", to: &line)
        }
        return line + "}\n"
    }
}
