import Testing

@testable import MicroHTTPServer

@Suite struct RequestDecodingTests {
    func decode(_ raw: String, plusIsSpace: Bool = false) -> Result<String, RequestDecoding.Defect> {
        RequestDecoding.percentDecoded(Array(raw.utf8), plusIsSpace: plusIsSpace)
    }

    @Test func percentEncodingIsDecoded() {
        #expect(decode("/a%20b%2Fc") == .success("/a b/c"))
        #expect(decode("a+b", plusIsSpace: true) == .success("a b"))
        #expect(decode("a+b") == .success("a+b"))
        #expect(decode("%C3%A9") == .success("é"))
    }

    @Test(arguments: ["/kubeconfig%00", "/a%0d%0aX: y", "/%7f", "/%", "/%2", "/%zz", "/%C3", "/%FF"])
    func whatNoValidTargetHoldsIsRefused(raw: String) {
        guard case .failure = decode(raw) else {
            Issue.record("\(raw) was accepted")
            return
        }
    }

    @Test func framingHeadersMustAgree() {
        #expect(RequestDecoding.framingDefect([("Content-Length", "5")]) == nil)
        #expect(RequestDecoding.framingDefect([("Transfer-Encoding", "chunked")]) == nil)
        #expect(RequestDecoding.framingDefect([("Content-Length", "5"), ("content-length", "5")]) == nil)
        #expect(RequestDecoding.framingDefect([("Content-Length", "5"), ("Content-Length", "6")]) != nil)
        #expect(RequestDecoding.framingDefect([("Content-Length", "-1")]) != nil)
        #expect(RequestDecoding.framingDefect([("Content-Length", "5"), ("Transfer-Encoding", "chunked")]) != nil)
        #expect(RequestDecoding.framingDefect([("Transfer-Encoding", "gzip, chunked")]) != nil)
        #expect(RequestDecoding.framingDefect([("Transfer-Encoding", "identity")]) != nil)
    }
}
