import KubeconfigBase
import Testing

@Suite struct DurationUnitsTests {
    @Test func unitsOfADurationWithAFraction() {
        let duration = Duration.seconds(2) + .nanoseconds(345_678_901)
        #expect(duration.seconds == 2.345678901)
        #expect(duration.milliseconds == 2345.679)
        #expect(duration.wholeMilliseconds == 2345)
        #expect(duration.nanoseconds == 2_345_678_901)
    }

    @Test func zero() {
        #expect(Duration.zero.seconds == 0)
        #expect(Duration.zero.wholeMilliseconds == 0)
        #expect(Duration.zero.nanoseconds == 0)
    }
}
