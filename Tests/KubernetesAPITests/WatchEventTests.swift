import KubeconfigBase
import Testing

@testable import KubernetesAPI

/// A watch's byte stream as events: framing across any chunk boundaries, each event type, and
/// the errors an `ERROR` event or a refused watch stand for.
@Suite struct WatchEventTests {
    static let modified =
        #"{"type":"MODIFIED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"kc","namespace":"onap","resourceVersion":"12","annotations":{"a":"}{"}},"data":{"kubeconfig":"x: \"}\"\n"}}}"#
    static let bookmark =
        #"{"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"15"}}}"#
    static let expired =
        #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 3 (9)","reason":"Expired","code":410}}"#

    func events(_ chunks: [String], maxEventBytes: Int = 1 << 20) throws -> [DataObjectWatchEvent] {
        var framer = WatchEventFramer(maxEventBytes: maxEventBytes)
        var events: [DataObjectWatchEvent] = []
        for chunk in chunks {
            framer.append(Array(chunk.utf8))
            while let bytes = try framer.next() {
                events.append(try KubernetesClient.watchEvent(from: bytes, redaction: .none))
            }
        }
        return events
    }

    @Test func eventsAreFramedWhateverTheChunksAndTheWhitespaceBetween() throws {
        let stream = Self.modified + "\n" + Self.bookmark + "\r\n  " + Self.modified
        let whole = try events([stream])
        #expect(whole.count == 3)
        // Every cut, braces and escaped quotes inside strings included.
        let bytes = Array(stream.utf8)
        for cut in stride(from: 1, to: bytes.count, by: 7) {
            let pieces = [String(decoding: bytes[..<cut], as: UTF8.self), String(decoding: bytes[cut...], as: UTF8.self)]
            #expect(try events(pieces) == whole, "cut at \(cut)")
        }
        let oneByteAtATime = try events(bytes.map { String(decoding: [$0], as: UTF8.self) })
        #expect(oneByteAtATime == whole)
    }

    @Test func eachTypeIsDecoded() throws {
        let decoded = try events([Self.modified, Self.bookmark])
        guard case .modified(let object) = decoded.first else {
            Issue.record("not MODIFIED: \(decoded)")
            return
        }
        #expect(object.metadata.resourceVersion == "12")
        #expect(object.data?["kubeconfig"] == "x: \"}\"\n")
        #expect(object.metadata.annotations == ["a": "}{"])
        #expect(decoded.last == .bookmark(resourceVersion: "15"))
        #expect(decoded.map(\.resourceVersion) == ["12", "15"])
        let added = try events([Self.modified.replacingOccurrences(of: "MODIFIED", with: "ADDED")])
        let deleted = try events([Self.modified.replacingOccurrences(of: "MODIFIED", with: "DELETED")])
        #expect(added.first?.type == "ADDED" && deleted.first?.type == "DELETED")
    }

    @Test func anExpiredErrorEventMeansListAgain() {
        #expect {
            try events([Self.modified, Self.expired])
        } throws: { error in
            let error = error as? ServiceError
            return error?.code == .apiExpired && error?.message.contains("too old resource version: 3 (9)") == true
        }
    }

    @Test func otherErrorEventsKeepTheStatusCode() {
        let internalError = Self.expired.replacingOccurrences(of: "\"Expired\"", with: "\"InternalError\"")
            .replacingOccurrences(of: "410", with: "500")
        #expect {
            try events([internalError])
        } throws: { ($0 as? ServiceError)?.code == .apiServerError }
        #expect(KubernetesClient.statusError(code: 410, body: [], retryAfterHeader: nil, redaction: .none).code == .apiExpired)
    }

    @Test func garbageAndOversizedEventsAreProtocolErrors() {
        #expect {
            try events(["[1,2]"])
        } throws: { ($0 as? ServiceError)?.code == .apiProtocol }
        #expect {
            try events([#"{"type":"SURPRISE","object":{}}"#])
        } throws: { ($0 as? ServiceError)?.code == .apiProtocol }
        #expect {
            try events([String(Self.modified.dropLast(3))], maxEventBytes: 64)
        } throws: { ($0 as? ServiceError)?.message.contains("larger than 64 bytes") == true }
    }

    @Test func theListAndWatchAskForTheOneNameOnly() {
        #expect(
            KubernetesClient.watchPath(.configMaps, namespace: "onap", name: "kc", resourceVersion: "12", timeoutSeconds: 300)
                == "/api/v1/namespaces/onap/configmaps?fieldSelector=metadata.name%3Dkc&watch=true"
                + "&allowWatchBookmarks=true&resourceVersion=12&timeoutSeconds=300")
        #expect(
            KubernetesClient.listPath(.secrets, namespace: "onap", name: "a.b-c")
                == "/api/v1/namespaces/onap/secrets?fieldSelector=metadata.name%3Da.b-c")
    }
}
