import AsyncHTTPClient
import FoundationEssentials
import KubeconfigBase
import NIOCore
import NIOHTTP1

extension KubernetesClient {
    // MARK: - List and watch of one object by name

    static func listPath(_ resource: DataObjectResource, namespace: String, name: String) -> String {
        "/api/v1/namespaces/\(pathSegment(namespace))/\(resource.rawValue)?fieldSelector="
            + queryValue("metadata.name=\(name)")
    }

    static func watchPath(
        _ resource: DataObjectResource, namespace: String, name: String, resourceVersion: String, timeoutSeconds: Int
    ) -> String {
        listPath(resource, namespace: namespace, name: name) + "&watch=true&allowWatchBookmarks=true&resourceVersion="
            + queryValue(resourceVersion) + "&timeoutSeconds=\(timeoutSeconds)"
    }

    /// Percent-encodes a query value (`=` and `&` included).
    static func queryValue(_ value: String) -> String {
        PercentEncoding.queryValue.encode(value)
    }

    /// `GET` the list of the one object named `name`.
    public func listDataObjects(
        _ resource: DataObjectResource, namespace: String, name: String, token: BearerToken, retry: RetryPolicy
    ) async throws(ServiceError) -> DataObjectList {
        struct List: Decodable {
            struct Metadata: Decodable { var resourceVersion: String? }
            var metadata: Metadata
            var items: [DataObject]?
        }
        let what = "list of \(resource.rawValue) named \(namespace)/\(name)"
        let body = try await send(.GET, Self.listPath(resource, namespace: namespace, name: name), token: token, retry: retry)
        let list = try Self.decode(List.self, from: body, what: what)
        guard let version = list.metadata.resourceVersion, !version.isEmpty else {
            throw ServiceError(code: .apiProtocol, message: "the API server sent a \(what) without a resourceVersion")
        }
        return DataObjectList(items: (list.items ?? []).filter { $0.metadata.name == name }, resourceVersion: version)
    }

    /// Watches the one object named `name` (see `DataObjectWatchAPI.watchDataObjects`).
    public func watchDataObjects(
        _ resource: DataObjectResource, namespace: String, name: String, resourceVersion: String, timeoutSeconds: Int,
        token: BearerToken, receive: @escaping @Sendable (DataObjectWatchEvent) async -> Void
    ) async throws(ServiceError) {
        let path = Self.watchPath(
            resource, namespace: namespace, name: name, resourceVersion: resourceVersion, timeoutSeconds: timeoutSeconds)
        try await watch(
            path: path, timeoutSeconds: timeoutSeconds, token: token,
            decode: { bytes, redaction throws(ServiceError) in try Self.watchEvent(from: bytes, redaction: redaction) },
            receive: receive)
    }

    /// Streams the watch at `path`, each event decoded by `decode`.
    ///
    /// The request's deadline covers the answer's head; the stream then has
    /// `timeoutSeconds` plus a grace period to end, so a connection that died silently is
    /// given up, not waited on for ever.
    func watch<Event: Sendable>(
        path: String, timeoutSeconds: Int, token: BearerToken,
        decode: @escaping @Sendable ([UInt8], CredentialRedaction) throws(ServiceError) -> Event,
        receive: @escaping @Sendable (Event) async -> Void
    ) async throws(ServiceError) {
        var request = HTTPClientRequest(url: server + path)
        request.method = .GET
        request.headers.add(name: "Authorization", value: "Bearer \(token.value)")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "kubeconfig-service")
        let prepared = request
        let silence = Duration.seconds(timeoutSeconds) + Self.watchGrace
        let outcome: Result<Void, ServiceError> = await withTaskGroup(of: Result<Void, ServiceError>?.self) { group in
            group.addTask {
                do throws(ServiceError) {
                    try await self.stream(
                        prepared, path: path, redaction: CredentialRedaction([token]), decode: decode, receive: receive)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                // The watchdog: nil when cancelled because the stream ended first.
                guard (try? await Task.sleep(for: silence)) != nil else { return nil }
                return .failure(
                    ServiceError(
                        code: .apiTimeout,
                        message: "GET \(self.server)\(path): the watch was not ended by the API server within \(silence)"))
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .success(())
        }
        try outcome.get()
    }

    /// How long past its `timeoutSeconds` a watch may stay open before it is given up.
    static let watchGrace = Duration.seconds(30)

    private func stream<Event: Sendable>(
        _ request: HTTPClientRequest, path: String, redaction: CredentialRedaction,
        decode: @Sendable ([UInt8], CredentialRedaction) throws(ServiceError) -> Event,
        receive: @Sendable (Event) async -> Void
    ) async throws(ServiceError) {
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: TimeAmount(requestTimeout))
        } catch {
            throw await failure(error, method: .GET, path: path)
        }
        guard (200..<300).contains(response.status.code) else {
            let body: [UInt8]
            do {
                body = Array(buffer: try await response.body.collect(upTo: 64 << 10))
            } catch {
                throw await failure(error, method: .GET, path: path)
            }
            throw Self.statusError(
                code: Int(response.status.code), body: body, retryAfterHeader: response.headers.first(name: "Retry-After"),
                redaction: redaction)
        }
        var framer = WatchEventFramer(maxEventBytes: Self.maxResponseBytes)
        do {
            for try await chunk in response.body {
                framer.append(chunk.readableBytesView)
                while let bytes = try framer.next() {
                    await receive(try decode(bytes, redaction))
                }
            }
        } catch let error as ServiceError {
            throw error
        } catch {
            throw await failure(error, method: .GET, path: path)
        }
    }

    /// One `WatchEvent`; an `ERROR` event's Status becomes the error it describes.
    static func watchEvent(from bytes: [UInt8], redaction: CredentialRedaction) throws(ServiceError) -> DataObjectWatchEvent {
        switch try objectWatchEvent(DataObject.self, from: bytes, redaction: redaction) {
        case .added(let object): .added(object)
        case .modified(let object): .modified(object)
        case .deleted(let object): .deleted(object)
        case .bookmark(let version): .bookmark(resourceVersion: version)
        }
    }

    /// One `WatchEvent` of objects of type `Object`; an `ERROR` event's Status becomes the error
    /// it describes.
    static func objectWatchEvent<Object: Decodable>(
        _ type: Object.Type, from bytes: [UInt8], redaction: CredentialRedaction
    ) throws(ServiceError) -> ObjectWatchEvent<Object> {
        let kind = try decode(WatchEventType.self, from: bytes, what: "watch event")
        switch kind.type {
        case "ADDED": return .added(try decode(WatchEventBody<Object>.self, from: bytes, what: "watch event").object)
        case "MODIFIED": return .modified(try decode(WatchEventBody<Object>.self, from: bytes, what: "watch event").object)
        case "DELETED": return .deleted(try decode(WatchEventBody<Object>.self, from: bytes, what: "watch event").object)
        case "BOOKMARK":
            return .bookmark(
                try decode(WatchEventBody<WatchBookmark>.self, from: bytes, what: "watch bookmark").object.metadata
                    .resourceVersion)
        case "ERROR":
            let status = try decode(WatchEventBody<WatchErrorStatus>.self, from: bytes, what: "watch error").object
            throw watchError(code: status.code ?? 500, reason: status.reason, message: status.message, redaction: redaction)
        default:
            throw ServiceError(
                code: .apiProtocol, message: "the API server sent a watch event of unknown type \"\(kind.type.prefix(20))\"")
        }
    }

    /// The error a watch's `ERROR` event (or a refused watch) stands for: 410 means list again.
    static func watchError(code: Int, reason: String?, message: String?, redaction: CredentialRedaction) -> ServiceError {
        let status = APIStatus(httpCode: code, reason: reason, message: message, redaction: redaction)
        if code == 410 || reason == "Expired" || reason == "Gone" {
            return ServiceError(
                code: .apiExpired, message: "the watch's resourceVersion is too old: \(status.message ?? "410 Gone")")
        }
        return statusError(status, retryAfterHeader: nil)
    }
}

// MARK: - The wire form of watch events

private struct WatchEventBody<Body: Decodable>: Decodable {
    var type: String
    var object: Body
}

private struct WatchEventType: Decodable { var type: String }

private struct WatchBookmark: Decodable {
    struct Metadata: Decodable { var resourceVersion: String }
    var metadata: Metadata
}

private struct WatchErrorStatus: Decodable {
    var code: Int?
    var reason: String?
    var message: String?
}
