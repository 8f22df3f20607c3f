/// An ETag in 16 bytes when it is the usual MD5 form (32 lowercase hex digits, as S3 gives for
/// any object not uploaded in parts). Other ETags (multipart `…-N`, uppercase, empty) do not
/// pack and are kept as strings by the caller.
struct PackedETag: Sendable, Equatable {
  var high: UInt64
  var low: UInt64

  init(high: UInt64, low: UInt64) {
    self.high = high
    self.low = low
  }

  init?(_ etag: String) {
    guard etag.utf8.count == 32 else { return nil }
    var etag = etag
    let halves: (UInt64, UInt64)? = etag.withUTF8 { bytes in
      var high: UInt64 = 0
      var low: UInt64 = 0
      for i in 0..<32 {
        let byte = bytes[i]
        let nibble: UInt64
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = UInt64(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = UInt64(byte - UInt8(ascii: "a") + 10)
        default: return nil
        }
        if i < 16 { high = high << 4 | nibble } else { low = low << 4 | nibble }
      }
      return (high, low)
    }
    guard let halves else { return nil }
    (high, low) = halves
  }

  var string: String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8](repeating: 0, count: 32)
    for i in 0..<16 {
      out[i] = digits[Int(high >> UInt64(60 - 4 * i) & 0xF)]
      out[16 + i] = digits[Int(low >> UInt64(60 - 4 * i) & 0xF)]
    }
    return String(decoding: out, as: UTF8.self)
  }
}
