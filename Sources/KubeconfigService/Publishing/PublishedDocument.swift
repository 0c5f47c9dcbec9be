import Crypto
import Foundation
import KubernetesAPI

/// The document as last read or written by a publication, rendered once for serving.
public struct PublishedDocument: Sendable {
    public let document: KubeconfigDocument
    public let yaml: [UInt8]
    public let json: [UInt8]
    /// Strong entity tags of the YAML and the JSON form, quoted as HTTP wants them.
    public let yamlETag: String
    public let jsonETag: String
    public internal(set) var resourceVersion: String
    /// The annotations of the object as read or written with it (token records among them).
    public internal(set) var annotations: [String: String] = [:]

    public init(document: KubeconfigDocument, resourceVersion: String) {
        self.document = document
        self.yaml = Array(document.yaml().utf8)
        self.json = Array(document.json().utf8)
        self.resourceVersion = resourceVersion
        let digest = SHA256.hash(data: yaml)
        let tag = digest.prefix(12).hexString
        self.yamlETag = "\"" + tag + "\""
        self.jsonETag = "\"" + tag + "-json\""
    }
}

/// What `POST /sites/{location}` answers and `publish` prints.
public struct PublicationResult: Sendable, Equatable, Encodable {
    public var site: String
    public var namespace: String
    /// The object that holds the document: one of the two is set.
    public var configMap: String?
    public var secret: String?
    public var key: String
    public var server: String
    public var resourceVersion: String
    public var changed: Bool
    /// `pod` or `TokenRequest`.
    public var tokenSource: PublishedToken.Source
    public var tokenExpiresAt: Date?
    public var tokenRenewsAt: Date?
    /// A renewal that was due and failed; the published token is still valid.
    public var renewalError: ReportedError?

    /// The result as the JSON body `POST` answers and `publish` prints.
    public var json: [UInt8] { JSONBody.encode(self) }
}

/// An error as JSON bodies show it: its code and message.
public struct ReportedError: Sendable, Equatable, Encodable {
    public var code: String
    public var message: String

    public init(_ error: ServiceError) {
        code = error.code.rawValue
        message = error.message
    }
}
