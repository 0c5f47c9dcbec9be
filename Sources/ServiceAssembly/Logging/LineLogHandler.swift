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
        var fields =
            metadata.isEmpty ? event.metadata ?? [:] : metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 })
        if let error = event.error {
            fields["error.message"] = "\(error)"
            fields["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        switch format {
        case .json: sink.write(json(event, fields))
        case .text: sink.write(text(event, fields))
        }
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
    private func json(_ event: LogEvent, _ metadata: Logger.Metadata) -> [UInt8] {
        // The fixed fields win over metadata of the same name; all of them sorted by key.
        var fields: [(key: String, value: String)] = [
            ("ts", LogClock.shared.utc()), ("level", event.level.rawValue), ("msg", "\(event.message)"), ("logger", label),
        ]
        fields.reserveCapacity(4 + metadata.count)
        for (key, value) in metadata where !Self.fixedKeys.contains(key) {
            let text =
                switch value {
                case .string(let string): string
                default: "\(value)"
                }
            fields.append((key, text))
        }
        fields.sort { $0.key < $1.key }
        var line: [UInt8] = [UInt8(ascii: "{")]
        line.reserveCapacity(64 + fields.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 6 })
        for (index, field) in fields.enumerated() {
            if index > 0 { line.append(UInt8(ascii: ",")) }
            JSONString.write(field.key, to: &line)
            line.append(UInt8(ascii: ":"))
            JSONString.write(field.value, to: &line)
        }
        line.append(UInt8(ascii: "}"))
        line.append(UInt8(ascii: "\n"))
        return line
    }

    private static let fixedKeys: Set<String> = ["ts", "level", "msg", "logger"]
}
