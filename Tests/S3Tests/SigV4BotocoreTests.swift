import Foundation
import S3
import TestSupport
import Testing

/// The signer against an independent implementation: botocore's SigV4Auth (S3 flavour, no
/// double path encoding) signs the same requests, and the canonical requests and signatures
/// must match, header values with tabs, line breaks and runs of spaces included.
@Suite struct SigV4BotocoreTests {
  struct Case {
    var method: String
    var path: String
    var query: [(String, String)]
    var headers: [(String, String)]
  }

  let cases: [Case] = [
    Case(
      method: "GET", path: "/bucket/A1B2C3D4/00000001/00000001-5E0BE100.MF4", query: [], headers: [("Range", "bytes=0-1048575")]),
    Case(
      method: "GET", path: "/bucket",
      query: [("list-type", "2"), ("prefix", "A1B2C3D4/"), ("delimiter", "/"), ("max-keys", "1000")],
      headers: []),
    Case(method: "PUT", path: "/bucket/a%20b%2Bc%25d%3De%26f.txt", query: [], headers: [("If-Match", "\"abc\"")]),
    Case(
      method: "PUT", path: "/bucket/x", query: [],
      headers: [("x-amz-meta-note", "  two   spaces\tand a tab\n and a line  "), ("Content-Type", "application/json")]),
    Case(method: "GET", path: "/bucket", query: [("continuation-token", "a/b+c=d&e"), ("encoding-type", "url")], headers: []),
  ]

  @Test func canonicalRequestsAndSignaturesMatchBotocore() throws {
    let credentials = Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    let signer = SigV4(credentials: credentials, region: "eu-central-1")
    let date = Date(timeIntervalSince1970: 1_796_000_000)
    var lines: [String] = []
    var ours: [(String, String)] = []
    for c in cases {
      let headers = c.headers + [("Host", "127.0.0.1:9000")]
      let s = signer.sign(
        method: c.method, path: c.path, query: c.query, headers: headers, payloadHash: SigV4.emptyPayloadHash, date: date)
      ours.append((s.canonicalRequest, s.signature))
      let json = try JSONSerialization.data(withJSONObject: [
        "method": c.method, "path": c.path, "query": c.query.map { [$0.0, $0.1] }, "headers": headers.map { [$0.0, $0.1] },
      ])
      lines.append(String(decoding: json, as: UTF8.self))
    }
    let script = """
      import json, sys
      from botocore.auth import S3SigV4Auth
      from botocore.awsrequest import AWSRequest
      from botocore.credentials import Credentials
      from urllib.parse import quote
      creds = Credentials('AKIDEXAMPLE', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY')
      stamp = '20261130T005320Z'
      for line in sys.stdin:
          c = json.loads(line)
          qs = '&'.join(quote(k, safe='-_.~') + '=' + quote(v, safe='-_.~') for k, v in c['query'])
          url = 'http://127.0.0.1:9000' + c['path'] + ('?' + qs if qs else '')
          req = AWSRequest(method=c['method'], url=url, headers={k: v for k, v in c['headers']})
          req.context['timestamp'] = stamp
          req.headers['X-Amz-Date'] = stamp
          req.headers['X-Amz-Content-SHA256'] = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
          auth = S3SigV4Auth(creds, 's3', 'eu-central-1')
          canonical = auth.canonical_request(req)
          sig = auth.signature(auth.string_to_sign(req, canonical), req)
          print(json.dumps([canonical, sig]))
      """
    let r = try Command.run(["python3", "-c", script], input: lines.joined(separator: "\n") + "\n")
    try #require(r.status == 0, "\(r.stderr)")
    let theirs = r.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String] }
    try #require(theirs.count == cases.count)
    for (i, (mine, other)) in zip(ours, theirs).enumerated() {
      #expect(mine.0 == other[0], "case \(i): canonical requests differ:\n\(mine.0)\n---\n\(other[0])")
      #expect(mine.1 == other[1], "case \(i): signatures differ")
    }
  }
}
