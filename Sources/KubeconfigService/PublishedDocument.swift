import Crypto
import Foundation

/// The document as last read or written by a publication, rendered once for serving.
public struct PublishedDocument: Sendable {
    public let document: KubeconfigDocument
    public let yaml: [UInt8]
    public let json: [UInt8]
    /// A strong entity tag over the YAML form, quoted as HTTP wants it.
    public let etag: String
    public internal(set) var resourceVersion: String

    public init(document: KubeconfigDocument, resourceVersion: String) {
        self.document = document
        self.yaml = Array(document.yaml().utf8)
        self.json = Array(document.json().utf8)
        self.resourceVersion = resourceVersion
        let digest = SHA256.hash(data: yaml)
        self.etag = "\"" + digest.prefix(12).map { String(format: "%02x", $0) }.joined() + "\""
    }
}

/// What `POST /sites/{location}` answers and `publish` prints.
public struct PublicationResult: Sendable, Equatable, Codable {
    public var site: String
    public var namespace: String
    public var configMap: String
    public var key: String
    public var server: String
    public var resourceVersion: String
    public var changed: Bool
}
