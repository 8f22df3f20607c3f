import Foundation

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// One entry of `ListObjectVersions`: a stored version of a key, or a delete marker.
public struct ObjectVersion: Sendable, Equatable {
  public var key: String
  /// The server's id of the version (`null` for an object stored before versioning was on).
  public var versionID: String
  public var isLatest: Bool
  public var isDeleteMarker: Bool
  /// Seconds since 1970 (UTC).
  public var lastModified: Int64
  /// Empty for a delete marker.
  public var etag: String
  public var size: UInt64

  public init(
    key: String, versionID: String, isLatest: Bool, isDeleteMarker: Bool, lastModified: Int64, etag: String = "",
    size: UInt64 = 0
  ) {
    self.key = key
    self.versionID = versionID
    self.isLatest = isLatest
    self.isDeleteMarker = isDeleteMarker
    self.lastModified = lastModified
    self.etag = etag
    self.size = size
  }
}

/// One page of `ListObjectVersions`: versions and delete markers in the order the server gave
/// them (by key, newest first within a key).
public struct VersionPage: Sendable, Equatable {
  public var versions: [ObjectVersion] = []
  public var commonPrefixes: [String] = []
  public var isTruncated = false
  public var nextKeyMarker: String?
  public var nextVersionIDMarker: String?

  public init() {}
}

/// What `GetBucketVersioning` says of the bucket.
public enum BucketVersioning: String, Sendable {
  case enabled
  case suspended
  /// Never enabled: an overwrite or a delete loses the previous content.
  case off
  /// The server did not say (no permission, or no such API).
  case unknown
}

/// What a PUT or DELETE left on the server.
public struct WriteResult: Sendable, Equatable {
  /// The new object's ETag (empty for a DELETE).
  public var etag: String
  /// `x-amz-version-id` of the new version or delete marker, on a versioned bucket.
  public var versionID: String?

  public init(etag: String, versionID: String?) {
    self.etag = etag
    self.versionID = versionID
  }
}

/// Parses a `ListObjectVersions` response (`ListVersionsResult`). Anything else, such as a
/// server that ignores `?versions` and answers a plain listing, is an invalid response, never
/// a list of versions.
public enum ListVersionsParser {
  public static func parse(_ body: [UInt8]) throws(S3Error) -> VersionPage {
    let delegate = Delegate()
    try XMLSafety.parse(body, with: delegate, what: "version listing")
    guard delegate.closedRoot else { throw .invalidResponse("version listing is not valid XML: unexpected end") }
    guard delegate.root == "ListVersionsResult" else {
      throw .invalidResponse("the server answered a version listing with <\(delegate.root.prefix(40))>, not ListVersionsResult")
    }
    if let problem = delegate.problem { throw .invalidResponse(problem) }
    var page = delegate.page
    if delegate.urlEncoded {
      for i in page.versions.indices {
        page.versions[i].key = URIEncoding.decode(page.versions[i].key, plusAsSpace: true)
      }
      page.commonPrefixes = page.commonPrefixes.map { URIEncoding.decode($0, plusAsSpace: true) }
      page.nextKeyMarker = page.nextKeyMarker.map { URIEncoding.decode($0, plusAsSpace: true) }
    }
    if page.isTruncated, page.nextKeyMarker?.isEmpty ?? true {
      throw .invalidResponse("version listing is truncated but has no NextKeyMarker")
    }
    return page
  }

  private final class Delegate: NSObject, XMLParserDelegate {
    var page = VersionPage()
    var root = ""
    var closedRoot = false
    var urlEncoded = false
    var problem: String?
    private var path: [String] = []
    private var text = ""
    private var current: ObjectVersion?

    func parser(
      _ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
      qualifiedName: String?, attributes: [String: String] = [:]
    ) {
      if path.isEmpty { root = name }
      path.append(name)
      text = ""
      if path.count == 2, name == "Version" || name == "DeleteMarker" {
        current = ObjectVersion(
          key: "", versionID: "", isLatest: false, isDeleteMarker: name == "DeleteMarker", lastModified: 0)
      }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
      defer {
        path.removeLast()
        text = ""
        if path.isEmpty { closedRoot = true }
      }
      let inEntry = path.count == 3 && (path[1] == "Version" || path[1] == "DeleteMarker")
      switch (path.count, name) {
      case (2, "IsTruncated"): page.isTruncated = text == "true"
      case (2, "NextKeyMarker"): page.nextKeyMarker = text
      case (2, "NextVersionIdMarker"): page.nextVersionIDMarker = text
      case (2, "EncodingType"): urlEncoded = text == "url"
      case (2, "Version"), (2, "DeleteMarker"):
        if let c = current {
          if c.key.isEmpty || c.versionID.isEmpty {
            problem = "version listing has an entry without a key or version id"
          } else {
            page.versions.append(c)
          }
        }
        current = nil
      case (3, "Key") where inEntry: current?.key = text
      case (3, "VersionId") where inEntry: current?.versionID = text
      case (3, "IsLatest") where inEntry: current?.isLatest = text == "true"
      case (3, "LastModified") where inEntry:
        guard let time = HTTPDate.parseISO8601(text) else {
          problem = "version listing has an invalid LastModified '\(text.prefix(40))'"
          return
        }
        current?.lastModified = time
      case (3, "ETag") where inEntry: current?.etag = text.unquotedETag
      case (3, "Size") where inEntry:
        guard let size = UInt64(text) else {
          problem = "version listing has an invalid Size '\(text.prefix(40))'"
          return
        }
        current?.size = size
      case (3, "Prefix") where path[1] == "CommonPrefixes": page.commonPrefixes.append(text)
      default: break
      }
    }
  }
}

/// Parses a `GetBucketVersioning` answer: `Enabled`, `Suspended`, or no status (never enabled).
public enum VersioningParser {
  public static func parse(_ body: [UInt8]) throws(S3Error) -> BucketVersioning {
    let delegate = Delegate()
    if !body.isEmpty { try XMLSafety.parse(body, with: delegate, what: "versioning answer") }
    // AWS's root element; moto's server answers GetBucketVersioningResponse.
    guard body.isEmpty || delegate.root == "VersioningConfiguration" || delegate.root == "GetBucketVersioningResponse" else {
      throw .invalidResponse("the server answered GetBucketVersioning with <\(delegate.root.prefix(40))>")
    }
    switch delegate.status {
    case "Enabled": return .enabled
    case "Suspended": return .suspended
    case nil, "": return .off
    default: throw .invalidResponse("unknown versioning status '\(delegate.status?.prefix(40) ?? "")'")
    }
  }

  private final class Delegate: NSObject, XMLParserDelegate {
    var root = ""
    var status: String?
    private var depth = 0
    private var text = ""

    func parser(
      _ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
      qualifiedName: String?, attributes: [String: String] = [:]
    ) {
      if depth == 0 { root = name }
      depth += 1
      text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
      if depth == 2, name == "Status" { status = text.trimmingCharacters(in: .whitespacesAndNewlines) }
      depth -= 1
      text = ""
    }
  }
}
