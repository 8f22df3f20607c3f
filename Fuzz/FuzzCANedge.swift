// libFuzzer target: the CANedge key, name and firmware parsers.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  let text = String(decoding: bytes, as: UTF8.self)
  _ = LogFileName(text)
  _ = DeviceID(text)
  _ = DeviceFileKind(name: text)
  _ = ConfigVersion(text)
  _ = try? FirmwareImage(bytes)
  let keys = text.split(separator: "\n").map {
    (key: String($0), size: UInt64($0.count % 3), etag: $0.count % 2 == 0 ? "e" : "f")
  }
  _ = DedupePlan(objects: keys)
  return 0
}
