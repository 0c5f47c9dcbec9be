import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

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
