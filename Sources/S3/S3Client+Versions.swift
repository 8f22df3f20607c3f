import Digest
import Foundation

extension S3Client {
  /// Every version and delete marker under `prefix` (`ListObjectVersions`), following
  /// `NextKeyMarker`/`NextVersionIdMarker` in pages of `maxKeys`; by key, newest first within a
  /// key.
  public func listVersions(prefix: String, delimiter: String? = "/", maxKeys: Int = 1000) throws(S3Error) -> VersionPage {
    var result = VersionPage()
    var marker: (key: String, version: String?)?
    var seen = Set<String>()
    repeat {
      var query: [(String, String)] = [("versions", ""), ("encoding-type", "url"), ("max-keys", String(maxKeys))]
      if !prefix.isEmpty { query.append(("prefix", prefix)) }
      if let delimiter { query.append(("delimiter", delimiter)) }
      if let marker {
        query.append(("key-marker", marker.key))
        if let version = marker.version { query.append(("version-id-marker", version)) }
      }
      let response = try send(method: "GET", key: nil, query: query, kind: \.list)
      let page = try ListVersionsParser.parse(response.body)
      result.versions += page.versions
      result.commonPrefixes += page.commonPrefixes
      guard page.isTruncated, let key = page.nextKeyMarker else { break }
      let next = (key, page.nextVersionIDMarker.flatMap { $0.isEmpty ? nil : $0 })
      guard seen.insert("\(next.0)\u{0}\(next.1 ?? "")").inserted else {
        throw .invalidResponse("version listing repeats its marker; stopping")
      }
      marker = next
    } while true
    return result
  }

  /// Whether the bucket keeps versions (`GetBucketVersioning`). A refusal (403) or a server
  /// without the API (501, 400, 405) is `unknown`; a failure to reach the server is thrown.
  public func bucketVersioning() throws(S3Error) -> BucketVersioning {
    do {
      let response = try send(method: "GET", key: nil, query: [("versioning", "")], kind: \.bucketConfig)
      return try VersioningParser.parse(response.body)
    } catch {
      if case .service(let e) = error, [400, 403, 404, 405, 501].contains(e.status) { return .unknown }
      if case .invalidResponse = error { return .unknown }
      throw error
    }
  }

  /// Turns versioning on or suspends it (tests and the demo; the mount never changes a bucket's
  /// settings).
  public func setBucketVersioning(enabled: Bool) throws(S3Error) {
    let body = Array(
      """
      <VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>\(enabled ? "Enabled" : "Suspended")</Status></VersioningConfiguration>
      """.utf8)
    _ = try send(
      method: "PUT", key: nil, query: [("versioning", "")],
      headers: [("Content-Type", "application/xml"), ("Content-MD5", Data(Digest.md5(body)).base64EncodedString())],
      body: body, kind: \.bucketConfig)
  }
}
