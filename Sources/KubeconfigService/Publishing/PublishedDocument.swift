import FoundationEssentials
import KubeconfigBase
import Synchronization

/// The document as last read or written by a publication, rendered once for serving.
public struct PublishedDocument: Sendable {
    public let document: KubeconfigDocument
    public let yaml: [UInt8]
    /// The JSON form, rendered at its first request and kept with this version (most callers,
    /// and every write, want YAML only).
    public var json: [UInt8] { renderings.json { Array(document.json().utf8) } }
    /// Strong entity tags of the YAML and the JSON form, quoted as HTTP wants them.
    public let yamlETag: String
    public let jsonETag: String
    public internal(set) var resourceVersion: String
    /// The annotations of the object as read or written with it (token records among them).
    public internal(set) var annotations: [String: String] = [:]
    /// The JSON form and single sites' documents, rendered at their first request and kept with
    /// this version.
    private let renderings = Renderings()

    public init(document: KubeconfigDocument, resourceVersion: String) {
        self.document = document
        self.yaml = Array(document.yaml().utf8)
        self.resourceVersion = resourceVersion
        (self.yamlETag, self.jsonETag) = Self.entityTags(of: yaml)
    }

    /// The strong entity tags of a document whose YAML form is `yaml`.
    static func entityTags(of yaml: [UInt8]) -> (yaml: String, json: String) {
        let tag = SHA256.hash(data: yaml).prefix(12).hexString
        return ("\"" + tag + "\"", "\"" + tag + "-json\"")
    }

    /// The document of one site (`KubeconfigDocument.site(named:)`), rendered once per
    /// version of this document; nil when it has no such context.
    public func site(named name: String) -> RenderedSite? {
        renderings.site(name) { document.site(named: name).map(RenderedSite.init) }
    }
}

/// One site's document in both forms, with their entity tags.
public struct RenderedSite: Sendable {
    public let yaml: [UInt8]
    public let json: [UInt8]
    public let yamlETag: String
    public let jsonETag: String

    init(_ document: KubeconfigDocument) {
        yaml = Array(document.yaml().utf8)
        json = Array(document.json().utf8)
        (yamlETag, jsonETag) = PublishedDocument.entityTags(of: yaml)
    }
}

/// The memo of `PublishedDocument.json` and `.site(named:)`. Sites are kept by context names
/// only (a name the document does not hold is not kept, so requests for made-up names cannot
/// grow it).
private final class Renderings: Sendable {
    private let state = Mutex<(json: [UInt8]?, sites: [String: RenderedSite])>((nil, [:]))

    func json(_ render: () -> [UInt8]) -> [UInt8] {
        if let json = state.withLock({ $0.json }) { return json }
        // Rendered outside the lock: two first requests may both render; one result is kept.
        let json = render()
        return state.withLock { state in
            if let existing = state.json { return existing }
            state.json = json
            return json
        }
    }

    func site(_ name: String, _ render: () -> RenderedSite?) -> RenderedSite? {
        if let site = state.withLock({ $0.sites[name] }) { return site }
        guard let site = render() else { return nil }
        return state.withLock { state in
            if let existing = state.sites[name] { return existing }
            state.sites[name] = site
            return site
        }
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
