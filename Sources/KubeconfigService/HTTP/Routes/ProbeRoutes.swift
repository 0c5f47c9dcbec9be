import HTTPMessages
import KubernetesAPI

/// `GET /livez`: 200 while the process serves.
struct LivenessRoute: RouteHandler {
    func handle(_ request: HTTPServerRequest) -> HTTPServerResult { .response(.text(.ok, "ok\n")) }
}

/// `GET /healthz`, `/readyz`: 200 once a publication succeeded since start; 503 with the reason before.
struct ReadinessRoute: RouteHandler {
    let state: PublicationState

    func handle(_ request: HTTPServerRequest) -> HTTPServerResult {
        let snapshot = state.snapshot
        if snapshot.lastSuccess != nil { return .response(.text(.ok, "ok\n")) }
        let reason =
            snapshot.lastError.map { "no publication has succeeded yet; last error: \($0.message)" }
            ?? "no publication has succeeded yet"
        return .response(.error(ServiceError(code: .notPublished, message: reason)))
    }
}

/// `GET /metrics`: the Prometheus text the process's registry renders.
struct MetricsRoute: RouteHandler {
    let render: @Sendable () -> String

    func handle(_ request: HTTPServerRequest) -> HTTPServerResult {
        .response(
            HTTPServerResponse(
                status: .ok, headerFields: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: Array(render().utf8)))
    }
}
