import Foundation
import ServiceAssembly

/// Certificate and key files in a folder of their own, from pairs `openssl` makes at test time.
struct TLSTestFiles {
    /// A self-signed certificate and its key, as PEM.
    struct Pair {
        var certificate: String
        var key: String
    }

    let folder: URL
    var files: TLSFiles {
        TLSFiles(
            certificate: folder.appendingPathComponent("tls.crt").path, key: folder.appendingPathComponent("tls.key").path)
    }

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    /// Writes `key`, then `certificate`, where `files` points. (A check between the two writes
    /// may see the new key with the old certificate; the tests that run checks on their own
    /// remove the certificate first, so that such a check sees unreadable files.)
    func install(certificate: String, key: String) throws {
        try Data(key.utf8).write(to: URL(fileURLWithPath: files.key), options: .atomic)
        try Data(certificate.utf8).write(to: URL(fileURLWithPath: files.certificate), options: .atomic)
    }

    func install(_ pair: Pair) throws { try install(certificate: pair.certificate, key: pair.key) }

    func remove() throws {
        try FileManager.default.removeItem(at: folder)
    }

    /// A new EC P-256 pair for `commonName`, valid for 127.0.0.1.
    func makePair(commonName: String) async throws -> Pair {
        let certificate = folder.appendingPathComponent("\(commonName).crt")
        let key = folder.appendingPathComponent("\(commonName).key")
        _ = try await Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=\(commonName)", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", key.path, "-out", certificate.path,
        ])
        return Pair(
            certificate: try String(contentsOf: certificate, encoding: .utf8), key: try String(contentsOf: key, encoding: .utf8))
    }

    /// The subject of the certificate a TLS server on `port` of 127.0.0.1 presents.
    static func servedSubject(port: UInt16) async throws -> String {
        let session = try await openssl(["s_client", "-connect", "127.0.0.1:\(port)"])
        let subject = session.split(separator: "\n").first { $0.hasPrefix("subject=") }
        return subject.map(String.init) ?? "no certificate in:\n\(session)"
    }

    struct OpenSSLError: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `openssl` with standard input closed; its standard output.
    static func openssl(_ arguments: [String]) async throws -> String {
        try await blocking { try run(["openssl"] + arguments) }
    }

    private static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw OpenSSLError(description: "\(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
