import KubeconfigBase
extension RemoteClusters {
    // MARK: - Errors

    /// The cause of a failed exchange with a site, in an operator's words. A refused
    /// certificate is looked at again (`CertificateDiagnosis`) until `deadline`.
    nonisolated func failure(
        _ error: any Error, endpoint: ClusterEndpoint, deadline: ContinuousClock.Instant
    ) async -> ServiceError {
        if let error = error as? ServiceError { return error }
        let failure = TransportFailure(error)
        var certificate: String?
        if failure == .certificateRejected || failure == .nameMismatch {
            certificate = await CertificateDiagnosis.explain(
                failure, server: endpoint.server, serverName: endpoint.tlsServerName,
                certificateAuthority: endpoint.certificateAuthority, authority: "the site's CA",
                timeout: max(deadline - .now, .milliseconds(100)), redaction: endpoint.redaction)
        }
        return Self.transportError(failure, server: endpoint.server, certificate: certificate)
    }

    /// The error a failure stands for; `certificate` ends the sentence about a refused
    /// certificate (`its certificate expired on ...`).
    static func transportError(_ failure: TransportFailure, server: String, certificate: String? = nil) -> ServiceError {
        switch failure {
        case .timedOut:
            return ServiceError(code: .siteTimeout, message: "\(server) did not answer in time")
        case .unresolved(let host):
            let name = host.map { "the host name \($0)" } ?? "the host name of \(server)"
            return ServiceError(code: .siteDNSFailed, message: "cannot resolve \(name)")
        case .refused:
            return ServiceError(code: .siteConnectionRefused, message: "\(server) refused the connection")
        case .connectionFailed(let cause):
            return ServiceError(code: .siteUnreachable, message: "cannot reach \(server): \(cause)")
        case .closed:
            return ServiceError(code: .siteUnreachable, message: "\(server) closed the connection before a whole answer")
        case .answerTooLarge:
            return ServiceError(code: .siteProbeFailed, message: "\(server) sent an answer larger than this service reads")
        case .notTLS:
            return ServiceError(
                code: .siteNotTLS,
                message: "\(server) does not speak TLS: what answers on that port is not an HTTPS server "
                    + "(a plain-HTTP or SSH port?)")
        case .closedDuringHandshake:
            return ServiceError(
                code: .siteTLSHandshakeFailed, message: "\(server) closed the connection during the TLS handshake")
        case .handshakeFailed(let cause):
            return ServiceError(
                code: .siteTLSHandshakeFailed,
                message: "the TLS handshake with \(server) failed" + (cause.map { ": \($0)" } ?? ""))
        case .certificateRejected, .nameMismatch:
            let cause =
                certificate
                ?? (failure == .nameMismatch
                    ? "its certificate is not valid for the name checked"
                    : "its certificate does not verify against the site's CA (not signed by it, expired or not yet valid)")
            return ServiceError(code: .siteTLSFailed, message: "TLS with \(server) failed: \(cause)")
        case .unknown:
            return ServiceError(code: .siteUnreachable, message: "cannot reach \(server): the connection failed")
        }
    }
}
