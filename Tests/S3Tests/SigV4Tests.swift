import Digest
import Foundation
import S3
import Testing

/// Published vectors: the AWS S3 "Signature Calculations for the Authorization Header" examples
/// and the get-vanilla case of the AWS SigV4 test suite.
@Suite struct SigV4Tests {
  let s3Example = SigV4(
    credentials: Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    region: "us-east-1")
  let may2013 = Date(timeIntervalSince1970: 1_369_353_600)  // 20130524T000000Z

  @Test func getObjectWithRangeMatchesPublishedExample() {
    let s = s3Example.sign(
      method: "GET", path: "/test.txt", query: [],
      headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")],
      payloadHash: SigV4.emptyPayloadHash, date: may2013)
    #expect(
      s.canonicalRequest == """
        GET
        /test.txt

        host:examplebucket.s3.amazonaws.com
        range:bytes=0-9
        x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
        x-amz-date:20130524T000000Z

        host;range;x-amz-content-sha256;x-amz-date
        e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
        """)
    #expect(s.stringToSign.hasSuffix("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"))
    #expect(s.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
  }

  @Test func putObjectMatchesPublishedExample() {
    let body = Array("Welcome to Amazon S3.".utf8)
    let s = s3Example.sign(
      method: "PUT", path: "/test%24file.text", query: [],
      headers: [
        ("Host", "examplebucket.s3.amazonaws.com"), ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
      ],
      payloadHash: Digest.hex(Digest.sha256(body)), date: may2013)
    #expect(s.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
  }

  @Test func listObjectsQueryIsSortedAndMatchesPublishedExample() {
    let s = s3Example.sign(
      method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")],
      headers: [("Host", "examplebucket.s3.amazonaws.com")], payloadHash: SigV4.emptyPayloadHash, date: may2013)
    #expect(s.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[2] == "max-keys=2&prefix=J")
    #expect(s.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
  }

  @Test func lifecycleSubresourceWithEmptyValueMatchesPublishedExample() {
    let s = s3Example.sign(
      method: "GET", path: "/", query: [("lifecycle", "")],
      headers: [("Host", "examplebucket.s3.amazonaws.com")], payloadHash: SigV4.emptyPayloadHash, date: may2013)
    #expect(s.signature == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
  }

  @Test func sessionTokenIsSignedAndAdded() {
    let signer = SigV4(
      credentials: Credentials(accessKeyID: "AKID", secretAccessKey: "secret", sessionToken: "TOKEN/with+chars"),
      region: "eu-west-1")
    let s = signer.sign(
      method: "GET", path: "/b/k", query: [], headers: [("Host", "h")], payloadHash: SigV4.emptyPayloadHash,
      date: may2013)
    #expect(s.canonicalRequest.contains("x-amz-security-token:TOKEN/with+chars\n"))
    #expect(s.authorization.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token"))
    #expect(s.headers.contains { $0.0 == "x-amz-security-token" && $0.1 == "TOKEN/with+chars" })
    #expect(!s.authorization.contains("secret"))
  }

  @Test func headerValuesAreTrimmedAndFolded() {
    let s = s3Example.sign(
      method: "GET", path: "/", query: [], headers: [("Host", "h"), ("X-Amz-Meta-A", "  a   b  ")],
      payloadHash: SigV4.emptyPayloadHash, date: may2013)
    #expect(s.canonicalRequest.contains("x-amz-meta-a:a b\n"))
  }
}
