import HTTPMessages
import HTTPTypes
import KubeconfigBase
import KubeconfigService

extension HTTPServerRequest {
    /// The first value of a header field, as sent.
    public func header(_ name: HTTPField.Name) -> String? {
        headerFields.first { $0.name == name }?.value
    }

    public func queryValue(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }
}
