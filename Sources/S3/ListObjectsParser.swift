import Foundation

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// Parses a ListObjectsV2 response body (FoundationXML's `XMLParser`).
///
/// With `EncodingType` `url` in the response, keys and prefixes are percent-decoded, so
/// control characters and other bytes XML cannot carry still come through.
public enum ListObjectsParser {
  public static func parse(_ body: [UInt8]) throws(S3Error) -> ListPage {
    let delegate = Delegate()
    try XMLSafety.parse(body, with: delegate, what: "listing")
    guard delegate.sawRoot, delegate.closedRoot else {
      throw .invalidResponse("listing is not valid XML: no ListBucketResult element")
    }
    if let problem = delegate.problem { throw .invalidResponse(problem) }
    var page = delegate.page
    if delegate.urlEncoded {
      for i in page.objects.indices { page.objects[i].key = URIEncoding.decode(page.objects[i].key, plusAsSpace: true) }
      page.commonPrefixes = page.commonPrefixes.map { URIEncoding.decode($0, plusAsSpace: true) }
    }
    if page.isTruncated, page.nextContinuationToken?.isEmpty ?? true {
      throw .invalidResponse("listing is truncated but has no continuation token")
    }
    return page
  }

  private final class Delegate: NSObject, XMLParserDelegate {
    var page = ListPage()
    var sawRoot = false
    var closedRoot = false
    var urlEncoded = false
    var problem: String?
    private var path: [String] = []
    private var text = ""
    private var current: ListedObject?

    func parser(
      _ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
      qualifiedName: String?, attributes: [String: String] = [:]
    ) {
      if path.isEmpty { sawRoot = name == "ListBucketResult" }
      path.append(name)
      text = ""
      if name == "Contents", path.count == 2 { current = ListedObject(key: "", size: 0, etag: "", lastModified: 0) }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
      defer {
        path.removeLast()
        text = ""
        if path.isEmpty { closedRoot = true }
      }
      switch (path.count, name) {
      case (2, "IsTruncated"): page.isTruncated = text == "true"
      case (2, "NextContinuationToken"): page.nextContinuationToken = text
      case (2, "EncodingType"): urlEncoded = text == "url"
      case (2, "Contents"):
        if let c = current {
          if c.key.isEmpty { problem = "listing has an object without a key" } else { page.objects.append(c) }
        }
        current = nil
      case (3, "Key") where path[1] == "Contents": current?.key = text
      case (3, "Size") where path[1] == "Contents":
        guard let size = UInt64(text) else {
          problem = "listing has an invalid Size '\(text.prefix(40))'"
          return
        }
        current?.size = size
      case (3, "ETag") where path[1] == "Contents": current?.etag = text.unquotedETag
      case (3, "LastModified") where path[1] == "Contents":
        current?.lastModified = HTTPDate.parseISO8601(text) ?? 0
      case (3, "Prefix") where path[1] == "CommonPrefixes": page.commonPrefixes.append(text)
      default: break
      }
    }
  }
}

/// Parses an S3 `<Error>` body; a body that is not one still gives an error with the status.
public enum ErrorResponseParser {
  public static func parse(status: Int, body: [UInt8], requestID: String?, bucketRegion: String? = nil) -> ServiceError {
    let delegate = Delegate()
    if !body.isEmpty, XMLSafety.isParseable(body) {
      let parser = XMLParser(data: Data(body))
      parser.delegate = delegate
      _ = parser.parse()
    }
    let code = delegate.fields["Code"] ?? Self.defaultCode(status)
    return ServiceError(
      status: status, code: code, message: delegate.fields["Message"] ?? "",
      requestID: delegate.fields["RequestId"] ?? requestID, resource: delegate.fields["Resource"],
      region: bucketRegion ?? delegate.fields["Region"])
  }

  static func defaultCode(_ status: Int) -> String {
    switch status {
    case 301: return "PermanentRedirect"
    case 400: return "BadRequest"
    case 403: return "AccessDenied"
    case 404: return "NotFound"
    case 409: return "Conflict"
    case 412: return "PreconditionFailed"
    case 416: return "InvalidRange"
    case 503: return "ServiceUnavailable"
    default: return "HTTP\(status)"
    }
  }

  private final class Delegate: NSObject, XMLParserDelegate {
    var fields: [String: String] = [:]
    private var depth = 0
    private var text = ""
    func parser(
      _ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
      qualifiedName: String?, attributes: [String: String] = [:]
    ) {
      depth += 1
      text = ""
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
      if depth == 2 { fields[name] = text }
      depth -= 1
      text = ""
    }
  }
}

/// FoundationXML's parser traps (crashes the process) on some invalid UTF-8, found by fuzzing:
/// an element name with 0xFF bytes. S3 XML is UTF-8, so anything else is refused before parsing.
enum XMLSafety {
  static func isParseable(_ body: [UInt8]) -> Bool {
    !body.contains(0) && String(validating: body, as: UTF8.self) != nil
  }

  /// Runs `delegate` over `body`, which must be UTF-8 without NUL and well-formed XML; else an
  /// invalid response that names `what` was answered.
  static func parse(_ body: [UInt8], with delegate: some XMLParserDelegate, what: String) throws(S3Error) {
    guard isParseable(body) else { throw .invalidResponse("\(what) is not UTF-8 XML") }
    let parser = XMLParser(data: Data(body))
    parser.delegate = delegate
    guard parser.parse() else {
      throw .invalidResponse("\(what) is not valid XML: \(parser.parserError.map { "\($0)" } ?? "unexpected end")")
    }
  }
}
