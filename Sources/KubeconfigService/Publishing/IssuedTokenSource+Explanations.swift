import KubeconfigBase
import KubernetesAPI

extension IssuedTokenSource {
    /// The API's answer, with what the operator can do about it.
    nonisolated func explain(_ error: ServiceError) -> ServiceError {
        let account = "serviceaccount \(configuration.reference)"
        if let site = configuration.site {
            switch error.code {
            case .apiNotFound:
                return ServiceError(
                    code: .serviceAccountNotFound, message: "\(account) not found at site \(site) (\(error.message))")
            case .apiUnauthorized:
                return ServiceError(
                    code: .bootstrapCredentialRejected,
                    message: "site \(site) rejected its bootstrap credential as invalid or expired (\(error.message)); "
                        + "mint a new bootstrap token there and register the site again with it")
            case .apiForbidden:
                return ServiceError(
                    code: .tokenRequestForbidden,
                    message: "site \(site) refused its bootstrap credential: \(error.message); it needs create on "
                        + "serviceaccounts/token for resourceNames [\(configuration.serviceAccount)] in namespace "
                        + "\(configuration.namespace) there")
            case .apiRejected, .apiProtocol:
                return ServiceError(
                    code: .tokenRequestFailed, message: "TokenRequest for \(account) at site \(site): \(error.message)")
            default:
                return error
            }
        }
        switch error.code {
        case .apiNotFound:
            return ServiceError(
                code: .serviceAccountNotFound,
                message: "\(account) not found: create it, or name an existing account with --token-service-account "
                    + "(\(error.message))")
        case .apiForbidden:
            return ServiceError(
                code: .tokenRequestForbidden,
                message: "\(error.message); this service's account needs create on serviceaccounts/token "
                    + "for resourceNames [\(configuration.serviceAccount)] in namespace \(configuration.namespace)")
        case .apiRejected, .apiProtocol:
            return ServiceError(code: .tokenRequestFailed, message: "TokenRequest for \(account): \(error.message)")
        default:
            return error
        }
    }
}
