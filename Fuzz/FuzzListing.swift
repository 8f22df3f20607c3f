// libFuzzer target: what the bucket answers: S3 XML (ListObjectsV2, ListObjectVersions,
// GetBucketVersioning and error bodies), dates, key decoding, and the shared header index's
// objects (parsed, and a parsed object must render and parse back the same).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  _ = try? ListObjectsParser.parse(bytes)
  _ = try? ListVersionsParser.parse(bytes)
  _ = try? VersioningParser.parse(bytes)
  _ = ErrorResponseParser.parse(status: 500, body: bytes, requestID: nil)
  let text = String(decoding: bytes, as: UTF8.self)
  _ = HTTPDate.parseISO8601(text)
  _ = HTTPDate.parseRFC1123(text)
  _ = URIEncoding.decode(text, plusAsSpace: true)
  if let index = try? SharedIndexObject.parse(bytes, decodes: { $0.count >= 5 }) {
    guard (try? SharedIndexObject.parse(index.rendered(), decodes: { $0.count >= 5 })) == index else {
      fatalError("a shared index object does not read back as it was rendered")
    }
  }
  return 0
}
