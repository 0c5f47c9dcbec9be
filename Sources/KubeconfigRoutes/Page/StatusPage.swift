import FoundationEssentials
import KubeconfigBase

/// The status page served at `/`: one HTML file with its style and script inline
/// (`status-page.html` beside this file, embedded in the binary by SwiftPM), and the
/// `Content-Security-Policy` that lets exactly that style and that script run.
struct StatusPage: Sendable {
    /// The page as served.
    let html: [UInt8]
    /// Names the SHA-256 of each inline `<script>` and `<style>` element, computed here from the
    /// bytes served, so that an edit of the page cannot leave a stale hash behind. Nothing else
    /// may load: the script may fetch this origin only (`/sites`, `/status`), and no form may post.
    let contentSecurityPolicy: String

    init(html: [UInt8]) {
        self.html = html
        func sources(_ element: String) -> String {
            let hashes = Self.inlineContents(of: element, in: html).map { content in
                "'sha256-\(Data(SHA256.hash(data: content).bytes).base64EncodedString())'"
            }
            return hashes.isEmpty ? "'none'" : hashes.joined(separator: " ")
        }
        contentSecurityPolicy = [
            "default-src 'none'", "script-src \(sources("script"))", "style-src \(sources("style"))",
            // The page's favicon is an empty `data:` URL, so that browsers do not ask for /favicon.ico.
            "connect-src 'self'", "img-src data:", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
        ].joined(separator: "; ")
    }

    /// The page built into the binary.
    static func embedded() -> StatusPage { StatusPage(html: PackageResources.status_page_html) }

    /// What stands between each `<element>` and its `</element>`: the bytes a browser hashes for
    /// CSP. An element with attributes is not matched, so its hash is missing and the policy
    /// blocks it: an inline element is written bare.
    static func inlineContents(of element: String, in html: [UInt8]) -> [ArraySlice<UInt8>] {
        let open = Array("<\(element)>".utf8)
        let close = Array("</\(element)>".utf8)
        var contents: [ArraySlice<UInt8>] = []
        var rest = html[...]
        while let start = rest.firstRange(of: open), let end = rest[start.upperBound...].firstRange(of: close) {
            contents.append(rest[start.upperBound..<end.lowerBound])
            rest = rest[end.upperBound...]
        }
        return contents
    }
}
