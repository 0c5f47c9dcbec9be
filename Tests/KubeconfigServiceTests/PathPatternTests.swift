import Testing

@testable import KubeconfigService

@Suite struct PathPatternTests {
    @Test func aLiteralPathMatchesItselfAlone() {
        let pattern = PathPattern("/sites")
        #expect(pattern.isLiteral)
        #expect(pattern.match("/sites") == [:])
        for other in ["/sites/", "/site", "/sites/a", "sites", "", "/"] {
            #expect(pattern.match(other) == nil, "\(other)")
        }
    }

    @Test func aParameterTakesOneNonEmptySegment() {
        let pattern = PathPattern("/sites/{name}")
        #expect(!pattern.isLiteral)
        #expect(pattern.match("/sites/edge-1") == ["name": "edge-1"])
        for other in ["/sites", "/sites/", "/sites/a/b", "/sites//", "/other/a", "//sites/a"] {
            #expect(pattern.match(other) == nil, "\(other)")
        }
    }

    @Test func parametersBetweenLiterals() {
        let pattern = PathPattern("/sites/{name}/token")
        #expect(pattern.match("/sites/edge-1/token") == ["name": "edge-1"])
        #expect(pattern.match("/sites/edge-1/tokens") == nil)
        #expect(pattern.match("/sites//token") == nil)
        #expect(PathPattern("/{a}/{b}").match("/x/y") == ["a": "x", "b": "y"])
    }
}
