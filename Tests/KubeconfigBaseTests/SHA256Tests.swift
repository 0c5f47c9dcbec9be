import Crypto
import KubeconfigBase
import Testing

/// Our SHA-256 against FIPS 180-4's examples and against swift-crypto's.
@Suite struct SHA256Tests {
    func hex(_ text: String) -> String { KubeconfigBase.SHA256.hash(data: Array(text.utf8)).hexString }

    @Test func fipsExamples() {
        #expect(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            KubeconfigBase.SHA256.hash(data: [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)).hexString
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func agreesWithSwiftCryptoAtEveryLengthAroundTheBlocks() {
        var rng = SystemRandomNumberGenerator()
        for length in Array(0...200) + [511, 512, 513, 4095, 4096, 4097, 100_000] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let ours = KubeconfigBase.SHA256.hash(data: bytes)
            #expect(Array(ours) == Array(Crypto.SHA256.hash(data: bytes)), "length \(length)")
            #expect(ours == KubeconfigBase.SHA256.hash(data: bytes))
            #expect(ours.bytes.count == 32)
        }
        // Different inputs, different digests, different hash-table keys.
        #expect(KubeconfigBase.SHA256.hash(data: [0]) != KubeconfigBase.SHA256.hash(data: [1]))
        #expect(Set([KubeconfigBase.SHA256.hash(data: [0]), KubeconfigBase.SHA256.hash(data: [0])]).count == 1)
    }
}
