/// The first argument: `BUCKET` or `s3://BUCKET[/PREFIX]`.
public struct BucketLocation: Equatable, Sendable {
  public var bucket: String
  /// Empty, or a key prefix ending in `/`.
  public var prefix: String

  public struct Invalid: Error, CustomStringConvertible {
    public let description: String
  }

  public init(_ text: String) throws(Invalid) {
    var rest = Substring(text)
    if rest.hasPrefix("s3://") { rest = rest.dropFirst(5) }
    let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
    bucket = String(parts[0])
    let p = parts.count > 1 ? parts[1].split(separator: "/").joined(separator: "/") : ""
    prefix = p.isEmpty ? "" : p + "/"
    // S3 bucket naming rules: 3–63 of a-z 0-9 . -, starting and ending with a letter or digit.
    let valid =
      (3...63).contains(bucket.utf8.count)
      && bucket.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 46 || $0 == 45 }
      && bucket.first.map { $0.isLetter || $0.isNumber } == true && bucket.last.map { $0.isLetter || $0.isNumber } == true
    guard valid else {
      throw Invalid(description: "'\(bucket)' is not a valid S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')")
    }
  }
}
