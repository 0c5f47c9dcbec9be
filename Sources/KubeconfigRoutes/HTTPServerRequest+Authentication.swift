import HTTPMessages
import KubeconfigBase
import KubeconfigService

extension HTTPServerRequest {
    /// This request, from `user`.
    func authenticated(as user: String) -> HTTPServerRequest {
        var request = self
        request.authenticatedUser = user
        return request
    }
}
