import Metrics
import Prometheus

/// Every metric of the process, kept in one Prometheus registry for `/metrics`.
public enum PrometheusMetrics {
    /// Makes swift-metrics record into a new registry (once a process: swift-metrics allows one
    /// bootstrap); returns the registry's text exposition, as `/metrics` serves it.
    public static func bootstrap() -> @Sendable () -> String {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return { registry.emitToString() }
    }
}
