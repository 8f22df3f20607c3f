// libFuzzer target: CANedge's log containers (MFC, MFE, MFM) as they come from a bucket: the
// header parser, the heatshrink decoder (bounded output) and the prefix reader the mount dates
// logs with. Encrypted inputs are decrypted only with a small iteration count (the parser
// bounds it; the fuzzer must stay fast).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  guard let container = try? LogContainer.parse(bytes) else { return 0 }
  if case .encrypted(_, let iterations, _) = container.kind, iterations > 64 { return 0 }
  _ = try? LogContainer.decode(bytes, password: { _ in "fuzz" }, limit: 1 << 20)
  let reader = ContainerPrefixReader(objectSize: UInt64(bytes.count), password: { _ in "fuzz" }) { range in
    Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)])
  }
  _ = try? reader.bytes(0..<4096)
  _ = try? reader.bytes(100_000..<100_100)
  // Whole streams in pieces decode as whole.
  if case .compressed(let w, let l) = container.kind, var a = try? HeatshrinkDecoder(windowBits: w, lookaheadBits: l),
    var b = try? HeatshrinkDecoder(windowBits: w, lookaheadBits: l)
  {
    let stream = bytes[min(bytes.count, LogContainer.compressedHeaderSize)...]
    var whole: [UInt8] = []
    var pieces: [UInt8] = []
    a.decode(stream, into: &whole, limit: 1 << 20)
    var at = stream.startIndex
    while at < stream.endIndex, pieces.count < 1 << 20 {
      let end = min(stream.endIndex, at + 61)
      at += b.decode(stream[at..<end], into: &pieces, limit: 1 << 20)
      if pieces.count >= 1 << 20 { break }
    }
    if whole.count < 1 << 20, pieces != whole { fatalError("heatshrink: pieces decode differently from the whole stream") }
  }
  return 0
}
