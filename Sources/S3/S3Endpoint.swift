/// Where a bucket is reached: scheme, host, port, addressing style and region.
public struct S3Endpoint: Sendable, Equatable {
  public var scheme: String
  public var host: String
  public var port: Int?
  public var region: String
  /// `https://host/bucket/key` rather than `https://bucket.host/key`.
  public var pathStyle: Bool

  public struct InvalidURL: Error, CustomStringConvertible, Sendable {
    public let description: String
  }

  /// Parses `--endpoint`. `pathStyle` defaults to on for anything that is not an AWS host.
  public init(url: String, region: String, pathStyle: Bool? = nil) throws(InvalidURL) {
    var rest = Substring(url)
    guard let sep = rest.range(of: "://") else {
      throw InvalidURL(description: "endpoint '\(url)' has no scheme: write http://HOST[:PORT] or https://HOST[:PORT]")
    }
    let scheme = rest[..<sep.lowerBound].lowercased()
    guard scheme == "http" || scheme == "https" else {
      throw InvalidURL(description: "endpoint '\(url)' must use http or https")
    }
    rest = rest[sep.upperBound...]
    if let slash = rest.firstIndex(of: "/") {
      guard rest[slash...].allSatisfy({ $0 == "/" }) else {
        throw InvalidURL(description: "endpoint '\(url)' must not have a path")
      }
      rest = rest[..<slash]
    }
    guard !rest.contains("@") else {
      throw InvalidURL(description: "endpoint URL must not carry credentials")
    }
    var host = String(rest)
    var port: Int?
    if host.hasPrefix("[") {  // IPv6 literal
      guard let close = host.firstIndex(of: "]") else {
        throw InvalidURL(description: "endpoint '\(url)' has a bad IPv6 address")
      }
      let after = host[host.index(after: close)...]
      if after.hasPrefix(":") {
        guard let p = Int(after.dropFirst()), (1...65535).contains(p) else {
          throw InvalidURL(description: "endpoint '\(url)' has a bad port")
        }
        port = p
      }
      host = String(host[...close])
    } else if let colon = host.lastIndex(of: ":") {
      guard let p = Int(host[host.index(after: colon)...]), (1...65535).contains(p) else {
        throw InvalidURL(description: "endpoint '\(url)' has a bad port")
      }
      port = p
      host = String(host[..<colon])
    }
    guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || "-.[]:".contains($0) }) else {
      throw InvalidURL(description: "endpoint '\(url)' has no valid host")
    }
    self.scheme = scheme
    self.host = host.lowercased()
    self.port = port
    self.region = region
    self.pathStyle = pathStyle ?? !host.lowercased().hasSuffix(".amazonaws.com")
  }

  /// The default AWS endpoint for a region.
  /// AWS's regional endpoint; a region that is not a region name (letters, digits and dashes)
  /// is refused with a sentence.
  public static func aws(region: String) throws(InvalidURL) -> S3Endpoint {
    guard isRegionName(region) else {
      throw InvalidURL(description: "region '\(region)' is not a region name (letters, digits and dashes, such as eu-west-1)")
    }
    return try S3Endpoint(url: "https://s3.\(region).amazonaws.com", region: region, pathStyle: false)
  }

  /// Whether `region` can name a region (and sit in a SigV4 credential scope).
  public static func isRegionName(_ region: String) -> Bool {
    !region.isEmpty && region.count <= 64 && region.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
  }

  var authority: String { port.map { "\(host):\($0)" } ?? host }

  /// The `Host` header and encoded path for an object (or the bucket itself when `key` is nil).
  func location(bucket: String, key: String?) -> (host: String, path: String) {
    let encodedKey = key.map { URIEncoding.encode($0, keepSlash: true) } ?? ""
    if pathStyle {
      return (authority, "/\(bucket)" + (key == nil ? "" : "/\(encodedKey)"))
    }
    return ("\(bucket).\(authority)", "/\(encodedKey)")
  }

  public var description: String { "\(scheme)://\(authority)" }
}
