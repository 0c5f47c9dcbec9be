/// Probes sites' API servers, each with its own CA and credential.
public protocol ClusterProbeAPI: Sendable {
    /// Connects to `endpoint` and asks who its credential is; never throws: a failure is a report.
    func probe(_ endpoint: ClusterEndpoint) async -> ProbeReport

    /// Lets go of connections to every endpoint not in `endpoints` (sites removed or changed).
    func retain(_ endpoints: [ClusterEndpoint]) async
}
