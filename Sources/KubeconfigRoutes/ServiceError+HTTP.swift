import HTTPTypes
import KubeconfigBase
import KubeconfigService
import KubernetesAPI

extension ServiceError {
    /// The HTTP status for this error: the one place codes become statuses.
    public var httpStatus: HTTPResponse.Status {
        switch code {
        case .badRequest, .invalidSite: return .badRequest
        case .siteReserved, .siteConflict, .siteClusterConflict, .siteNotManaged: return .conflict
        case .unsupportedMediaType: return .unsupportedMediaType
        case .siteVerificationFailed: return .unprocessableContent
        case .tooManyRequests: return .tooManyRequests
        case .unauthorized: return .unauthorized
        case .forbidden: return .forbidden
        case .notFound, .siteNotFound: return .notFound
        case .methodNotAllowed: return .methodNotAllowed
        case .documentNotKubeconfig: return .conflict
        case .payloadTooLarge, .documentTooLarge: return .contentTooLarge
        case .notPublished, .apiUnavailable, .conflict, .registrationTimedOut, .siteCredentialNotLoaded:
            return .serviceUnavailable
        case .notInCluster, .serviceAccountUnreadable: return .internalServerError
        case .apiTimeout: return .gatewayTimeout
        default: return .badGateway
        }
    }
}
