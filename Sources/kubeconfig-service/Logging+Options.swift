import ArgumentParser
import Logging
import ServiceAssembly

extension LogFormat: ExpressibleByArgument {}

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
        LineLogHandler.bootstrap(format: logFormat, level: logLevel.level)
    }
}
