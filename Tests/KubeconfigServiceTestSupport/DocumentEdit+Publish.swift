import KubeconfigService

extension DocumentEdit where Output == Void {
    /// Puts one site's fixed entries in the document: the simplest real edit, for tests of the loop.
    public static func publish(_ site: SiteEntries) -> DocumentEdit<Void> {
        DocumentEdit("publish site \(site.location)") { (document: inout KubeconfigDocument) in document.merge(site) }
    }
}
