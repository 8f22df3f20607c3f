import S3
import Testing

@Suite struct URIEncodingTests {
  @Test(arguments: [
    ("a b", "a%20b"), ("a+b", "a%2Bb"), ("~tilde-_.", "~tilde-_."), ("é", "%C3%A9"),
    ("dir/file", "dir%2Ffile"), ("100%", "100%25"), ("*", "%2A"), ("=&?", "%3D%26%3F"),
  ])
  func encodesEverythingButUnreserved(input: String, expected: String) {
    #expect(URIEncoding.encode(input) == expected)
  }

  @Test func keepsSlashesInKeyPaths() {
    #expect(URIEncoding.encode("A1B2C3D4/00000001/x y.MF4", keepSlash: true) == "A1B2C3D4/00000001/x%20y.MF4")
  }

  @Test func decodeInvertsEncode() {
    for s in ["a b+c/é~", "%zz%", "line\nbreak", "日本語"] {
      #expect(URIEncoding.decode(URIEncoding.encode(s)) == s)
    }
  }

  @Test func decodeTreatsPlusAsSpaceOnlyWhenAsked() {
    #expect(URIEncoding.decode("a+b", plusAsSpace: true) == "a b")
    #expect(URIEncoding.decode("a+b") == "a+b")
    #expect(URIEncoding.decode("bad%4") == "bad%4")
  }
}
