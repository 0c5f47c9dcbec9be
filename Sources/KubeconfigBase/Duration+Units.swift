extension Duration {
    /// The duration in seconds, for `Date` arithmetic.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// The duration in milliseconds, to the microsecond, as logs show it.
    public var milliseconds: Double { (seconds * 1_000_000).rounded() / 1000 }

    /// The duration in whole milliseconds, rounded down.
    public var wholeMilliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }

    /// The duration in whole nanoseconds, rounded down: what timers record.
    public var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
