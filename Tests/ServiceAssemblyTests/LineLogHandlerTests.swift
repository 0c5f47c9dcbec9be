import Foundation
import Logging
import ServiceAssembly
import Testing

/// The two line formats, as operators' log pipelines parse them.
@Suite struct LineLogHandlerTests {
    struct Refused: Error, CustomStringConvertible {
        var description: String { "the API server said no" }
    }

    /// The lines `body` logs through a `LineLogHandler` in `format`, from `level` up.
    func lines(_ format: LogFormat, level: Logger.Level = .info, _ body: (Logger) -> Void) -> [String] {
        let recorded = RecordedLines()
        var logger = Logger(label: "kubeconfig-service") { label in
            LineLogHandler(label: label, format: format, sink: recorded.sink)
        }
        logger.logLevel = level
        body(logger)
        recorded.sink.flush()
        return recorded.lines
    }

    func object(_ line: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func textLinesAreStreamLogHandlersFormatWithSortedMetadata() throws {
        let logged = lines(.text) { logger in
            var logger = logger
            logger[metadataKey: "site"] = "central"
            logger.info("publication succeeded", metadata: ["outcome": "changed", "duration_ms": "12"])
        }
        try #require(logged.count == 1)
        let timestamp = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}/
        let match = try #require(try timestamp.prefixMatch(in: logged[0]))
        #expect(
            logged[0][match.range.upperBound...]
                == " info kubeconfig-service: duration_ms=12 outcome=changed site=central [ServiceAssemblyTests] "
                + "publication succeeded")
    }

    @Test func anEventsMetadataOverridesTheLoggersAndErrorsBecomeMetadata() throws {
        let recorded = RecordedLines()
        var handler = LineLogHandler(label: "kubeconfig-service", format: .json, sink: recorded.sink)
        handler[metadataKey: "site"] = "central"
        // swift-log's Logger passes no error yet; a handler is given one by the LogEvent API.
        handler.log(
            event: LogEvent(
                level: .error, message: "renewal failed", error: Refused(), metadata: ["site": "edge"],
                source: "Renewal", file: #fileID, function: #function, line: #line))
        recorded.sink.flush()
        let fields = try object(try #require(recorded.lines.first))
        #expect(fields["site"] as? String == "edge")
        #expect(fields["error.message"] as? String == "the API server said no")
        #expect(fields["error.type"] as? String == "ServiceAssemblyTests.LineLogHandlerTests.Refused")
        #expect(fields["level"] as? String == "error")
    }

    @Test func jsonLinesAreOneObjectOfStringsWithTheStandardFields() throws {
        let logged = lines(.json) { logger in
            logger.warning("publication failed", metadata: ["attempt": "3", "sites": ["a", "b"]])
        }
        try #require(logged.count == 1)
        let fields = try object(logged[0])
        #expect(Set(fields.keys) == ["ts", "level", "msg", "logger", "attempt", "sites"])
        // Every value a string: a nested value is written as swift-log describes it.
        #expect(fields["level"] as? String == "warning")
        #expect(fields["msg"] as? String == "publication failed")
        #expect(fields["logger"] as? String == "kubeconfig-service")
        #expect(fields["attempt"] as? String == "3")
        #expect(fields["sites"] as? String == #"["a", "b"]"#)
        let ts = try #require(fields["ts"] as? String)
        #expect(ts.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/) != nil, "\(ts)")
        // Keys in order, so that lines diff and grep alike.
        #expect(logged[0].hasPrefix(#"{"attempt":"3","level":"warning","logger":"kubeconfig-service","msg":"#))
    }

    @Test func jsonEscapesQuotesBackslashesAndEveryControlCharacter() throws {
        let hostile = "a \"quoted\" C:\\path\nsecond line\r\tend \u{01}\u{1F}\u{7F} é ✓ 🙂"
        let logged = lines(.json) { logger in
            logger.info("\(hostile)", metadata: ["key \"with\" quotes": "\(hostile)"])
        }
        // One line for the whole event: a newline in a message cannot forge a second one.
        try #require(logged.count == 1)
        #expect(logged[0].contains(#"\"quoted\" C:\\path\nsecond line\r\tend \u0001\u001f\u007f é ✓ 🙂"#))
        let fields = try object(logged[0])
        #expect(fields["msg"] as? String == hostile)
        #expect(fields["key \"with\" quotes"] as? String == hostile)
    }

    @Test func metadataNamedLikeAStandardFieldDoesNotReplaceIt() throws {
        let logged = lines(.json) { logger in
            logger.info("the real message", metadata: ["msg": "forged", "level": "critical", "user": "alice"])
        }
        try #require(logged.count == 1)
        let fields = try object(logged[0])
        #expect(fields["msg"] as? String == "the real message")
        #expect(fields["level"] as? String == "info")
        #expect(fields["user"] as? String == "alice")
        #expect(logged[0].components(separatedBy: #""msg":"#).count == 2, "one msg key: \(logged[0])")
    }

    @Test func linesBelowTheLevelAreNotWrittenAndEachLevelIsNamed() throws {
        let logged = lines(.json, level: .notice) { logger in
            for level in Logger.Level.allCases { logger.log(level: level, "at \(level)") }
        }
        let levels = try logged.map { try object($0)["level"] as? String }
        #expect(levels == ["notice", "warning", "error", "critical"])
    }
}
