import Digest
import Foundation
import S3
import TestSupport
import Testing

/// The whole signer against AWS's published SigV4 test suite (`aws-sig-v4-test-suite`): for
/// each case in `Tests/Fixtures/sigv4-test-suite/`, the request as the suite gives it
/// (`request.txt`) must yield the suite's canonical request, string to sign and signature.
/// The suite signs for service `service`, which sends no `x-amz-content-sha256`.
@Suite struct SigV4TestSuiteTests {
  static let suite = Fixtures.url("sigv4-test-suite")
  static let cases: [String] =
    ((try? FileManager.default.contentsOfDirectory(atPath: suite.path)) ?? []).sorted()

  /// One `request.txt`: request line, header lines (a line that starts with white space
  /// continues the one before), an empty line, the body.
  struct SuiteRequest {
    var method: String
    var path: String
    var query: [(String, String)]
    var headers: [(String, String)]
    var body: [UInt8]

    init(_ text: String) throws {
      var lines = text.components(separatedBy: "\n")
      let requestLine = lines.removeFirst().split(separator: " ")
      method = String(requestLine[0])
      let target = requestLine[1...].dropLast().joined(separator: " ")
      let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
      path = String(parts[0])
      query =
        parts.count > 1
        ? parts[1].split(separator: "&").map { pair in
          let nameValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
          return (String(nameValue[0]), nameValue.count > 1 ? String(nameValue[1]) : "")
        } : []
      headers = []
      while let line = lines.first, !line.isEmpty {
        lines.removeFirst()
        if line.first == " " || line.first == "\t", let last = headers.popLast() {
          headers.append((last.0, last.1 + "\n" + line))
        } else {
          let colon = try #require(line.firstIndex(of: ":"))
          headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
        }
      }
      body = Array(lines.dropFirst().joined(separator: "\n").utf8)
    }
  }

  @Test func suiteIsPresent() {
    #expect(Self.cases.count >= 16)
  }

  @Test(arguments: cases)
  func signerMatchesPublishedVector(_ name: String) throws {
    let directory = Self.suite.appendingPathComponent(name)
    func file(_ name: String) throws -> String {
      try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }
    let request = try SuiteRequest(try file("request.txt"))
    let signer = SigV4(
      credentials: Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
      region: "us-east-1", service: "service")
    // The signer adds x-amz-date itself, from the date it is given.
    let headers = request.headers.filter { $0.0.lowercased() != "x-amz-date" }
    let signature = signer.sign(
      method: request.method, path: URIEncoding.encode(request.path, keepSlash: true), query: request.query,
      headers: headers, payloadHash: Digest.hex(Digest.sha256(request.body)),
      date: Date(timeIntervalSince1970: 1_440_938_160))
    #expect(signature.canonicalRequest == (try file("header-canonical-request.txt")))
    #expect(signature.stringToSign == (try file("header-string-to-sign.txt")))
    #expect(signature.signature == (try file("header-signature.txt")))
    #expect(
      signature.authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "))
    #expect(!signature.headers.contains { $0.0 == "x-amz-content-sha256" })
  }
}
