/// Polls `condition` every 10 ms until it holds or `limit` has passed: whether it came to hold.
/// A bound on waiting for something that should happen, not a measure of how fast it does.
public func eventually(within limit: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return true
}
