import KubeconfigBase
import Testing

@Suite struct BearerTokenTests {
    @Test func printingATokenShowsOnlyItsFingerprint() {
        let token = BearerToken("eyJhbGciOiJSUzI1NiJ9.secret-part")
        for text in ["\(token)", String(describing: token), String(reflecting: token), "\([token])"] {
            #expect(!text.contains("secret-part"))
        }
        #expect(token.fingerprint.count == 12)
        // sha256("abc"), from FIPS 180-2.
        #expect(BearerToken("abc").digest.hexString == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(BearerToken("abc").fingerprint == "ba7816bf8f01")
    }

    @Test func errorsBuiltFromAPIStatusNeverCarryTheToken() {
        let token = BearerToken("super-secret")
        let error = ServiceError(code: ServiceError.Code(rawValue: "Forbidden"), message: "forbidden for \(token)")
        #expect(!error.description.contains("super-secret"))
    }
}
