// libFuzzer target: the MF4 header reader. Each input is a whole file: the reader must give a
// header or an MF4HeaderError, within its read bound, never crash or loop. The same bytes are
// also read as if the file were ten times longer than what is held (a link past the input).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  _ = try? MF4HeaderReader.header(of: bytes)
  var reader = MF4HeaderReader(fileSize: UInt64(size) * 10) { range in
    guard range.upperBound <= UInt64(bytes.count) else { throw MF4HeaderError.truncated(at: range.upperBound) }
    return Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)])
  }
  _ = try? reader.read()
  precondition(reader.reads <= MF4HeaderReader.maxReads)
  return 0
}
