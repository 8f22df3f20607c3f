/// One object of a listing.
public struct ListedObject: Sendable, Equatable {
  public var key: String
  public var size: UInt64
  /// The ETag with its quotes removed.
  public var etag: String
  /// Seconds since 1970 (UTC).
  public var lastModified: Int64

  public init(key: String, size: UInt64, etag: String, lastModified: Int64) {
    self.key = key
    self.size = size
    self.etag = etag
    self.lastModified = lastModified
  }
}

/// One page of ListObjectsV2.
public struct ListPage: Sendable, Equatable {
  public var objects: [ListedObject] = []
  public var commonPrefixes: [String] = []
  public var isTruncated = false
  public var nextContinuationToken: String?

  public init() {}
}

/// What HeadObject tells about an object.
public struct ObjectHead: Sendable, Equatable {
  public var size: UInt64
  public var etag: String
  public var lastModified: Int64
  /// `x-amz-meta-*` values by their lower-cased suffix (`hw`, `fw`, `put-index`, …).
  public var metadata: [String: String]

  public init(size: UInt64, etag: String, lastModified: Int64, metadata: [String: String]) {
    self.size = size
    self.etag = etag
    self.lastModified = lastModified
    self.metadata = metadata
  }
}

/// A condition on a PUT, so a save never overwrites an edit it did not see.
public enum PutCondition: Sendable, Equatable {
  case none
  /// Replace only the version with this ETag.
  case ifMatch(String)
  /// Create only; fail if the object exists.
  case ifNoneMatch
}

extension String {
  /// The ETag without surrounding quotes (and without a weak-validator prefix).
  public var unquotedETag: String {
    var s = Substring(self).utf8
    if s.starts(with: "W/".utf8) { s = s.dropFirst(2) }
    if s.count >= 2, s.first == UInt8(ascii: "\""), s.last == UInt8(ascii: "\"") { s = s.dropFirst().dropLast() }
    return String(Substring(s))
  }
}
