import Digest

/// CANedge's containers of a log: compressed (`.MFC`), encrypted (`.MFE`), or both (`.MFM`,
/// an MFC container encrypted). Every one starts with a 20-byte header:
///
///     0  "Generic File"   12 bytes
///     12 version          major, minor
///     14 type             0x22 compressed, 0x11 encrypted
///     15 algorithm        0x01 (heatshrink; AES-256-GCM)
///     16 device ID        u32, big-endian
///
/// - compressed: an 8-byte header follows (look-ahead bits and window bytes, each a
///   big-endian u32; the window is 256, 512 or 1024 bytes), then the heatshrink stream;
/// - encrypted: a 32-byte header follows (a 12-byte IV, the PBKDF2 iteration count as a
///   big-endian u32, a 16-byte salt), then the ciphertext, then the 16-byte GCM tag. The key
///   is PBKDF2-HMAC-SHA256 of the device's password; the first 52 bytes are authenticated data.
///
/// Everything here comes from the bucket: parsed strictly, decoded with bounded output.
public struct LogContainer: Sendable, Equatable {
  public enum Kind: Sendable, Equatable {
    case compressed(windowBits: Int, lookaheadBits: Int)
    case encrypted(iv: [UInt8], iterations: Int, salt: [UInt8])
  }

  public var kind: Kind
  public var version: UInt16
  public var deviceID: UInt32

  public static let magic = Array("Generic File".utf8)
  public static let commonHeaderSize = 20
  public static let compressedHeaderSize = 28
  public static let encryptedHeaderSize = 52
  public static let tagSize = 16
  /// PBKDF2 iterations accepted: a hostile header could otherwise ask for hours of work.
  public static let maxIterations = 10_000_000
  /// A decoded log may be at most this many times its compressed size (heatshrink with
  /// CANedge's 4-bit look-ahead expands at most 8.5 times), plus 1 MiB.
  public static let maxExpansion = 16

  public struct Failure: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
  }

  /// The device ID as its folder is named (`5BC57FEC`).
  public var deviceName: String {
    let hex = String(deviceID, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 8 - hex.count)) + hex
  }

  /// Bytes of the header before the payload.
  public var headerSize: Int {
    if case .compressed = kind { return Self.compressedHeaderSize }
    return Self.encryptedHeaderSize
  }

  /// Whether `bytes` start like a container (the magic alone).
  public static func isContainer(_ bytes: some Collection<UInt8>) -> Bool { bytes.starts(with: magic) }

  /// The header at the start of `bytes` (at least `compressedHeaderSize` or
  /// `encryptedHeaderSize` bytes).
  public static func parse(_ bytes: some Collection<UInt8>) throws(Failure) -> LogContainer {
    let b = Array(bytes.prefix(encryptedHeaderSize))
    guard b.count >= commonHeaderSize, b.starts(with: magic) else {
      throw Failure("not a CANedge container (no 'Generic File' header)")
    }
    let version = UInt16(b[12]) << 8 | UInt16(b[13])
    let deviceID = bigEndian(b, 16)
    guard b[15] == 0x01 else { throw Failure("container algorithm \(b[15]) is not supported") }
    switch b[14] {
    case 0x22:
      guard b.count >= compressedHeaderSize else { throw Failure("compressed container cut short in its header") }
      let lookahead = Int(bigEndian(b, 20))
      let windowBytes = bigEndian(b, 24)
      let windowBits: Int
      switch windowBytes {
      case 256: windowBits = 8
      case 512: windowBits = 9
      case 1024: windowBits = 10
      default: throw Failure("compression window of \(windowBytes) bytes (256, 512 or 1024 expected)")
      }
      guard (3...windowBits).contains(lookahead) else { throw Failure("compression look-ahead of \(lookahead) bits") }
      return LogContainer(
        kind: .compressed(windowBits: windowBits, lookaheadBits: lookahead), version: version, deviceID: deviceID)
    case 0x11:
      guard b.count >= encryptedHeaderSize else { throw Failure("encrypted container cut short in its header") }
      let iterations = Int(bigEndian(b, 32))
      guard (1...maxIterations).contains(iterations) else { throw Failure("PBKDF2 iteration count \(iterations)") }
      return LogContainer(
        kind: .encrypted(iv: Array(b[20..<32]), iterations: iterations, salt: Array(b[36..<52])), version: version,
        deviceID: deviceID)
    default:
      throw Failure("container type 0x\(String(b[14], radix: 16)) (0x22 compressed, 0x11 encrypted expected)")
    }
  }

  /// The AES key of an encrypted container for `password`.
  public func key(password: String) -> [UInt8]? {
    guard case .encrypted(_, let iterations, let salt) = kind else { return nil }
    return AESGCM.pbkdf2SHA256(password: password, salt: salt, iterations: iterations)
  }

  // MARK: Whole files

  /// The MF4 inside a whole container file: decompressed, decrypted (authenticated by its
  /// tag), or both. `password` gives a device's password by its ID; `limit` bounds the output.
  public static func decode(_ bytes: [UInt8], password: (String) -> String?, limit: Int = 1 << 32) throws(Failure) -> [UInt8] {
    let container = try parse(bytes)
    switch container.kind {
    case .compressed:
      return try container.decompress(bytes[compressedHeaderSize...], limit: limit)
    case .encrypted:
      guard let secret = password(container.deviceName) else {
        throw Failure("encrypted by device \(container.deviceName): no password for it (--passwords)")
      }
      let inner = try container.decrypt(bytes, key: container.key(password: secret)!)
      guard isContainer(inner) else { return inner }
      let nested = try parse(inner)
      guard case .compressed = nested.kind else { throw Failure("an encrypted container inside an encrypted one") }
      return try nested.decompress(inner[compressedHeaderSize...], limit: limit)
    }
  }

  /// The heatshrink stream's output, at most `limit` bytes and `maxExpansion` times the input.
  public func decompress(_ stream: ArraySlice<UInt8>, limit: Int = 1 << 32) throws(Failure) -> [UInt8] {
    guard case .compressed(let windowBits, let lookaheadBits) = kind else { throw Failure("not a compressed container") }
    var decoder: HeatshrinkDecoder
    do { decoder = try HeatshrinkDecoder(windowBits: windowBits, lookaheadBits: lookaheadBits) } catch {
      throw Failure(error.description)
    }
    let bound = min(limit, stream.count * Self.maxExpansion + (1 << 20))
    var out: [UInt8] = []
    out.reserveCapacity(min(bound, stream.count * 4))
    let taken = decoder.decode(stream, into: &out, limit: bound)
    if taken < stream.count {
      throw Failure("the compressed stream expands to more than \(bound) bytes")
    }
    return out
  }

  /// The authenticated plaintext of a whole encrypted container file.
  public func decrypt(_ bytes: [UInt8], key: [UInt8]) throws(Failure) -> [UInt8] {
    guard case .encrypted(let iv, _, _) = kind else { throw Failure("not an encrypted container") }
    guard bytes.count >= Self.encryptedHeaderSize + Self.tagSize else { throw Failure("encrypted container cut short") }
    let end = bytes.count - Self.tagSize
    do {
      return try AESGCM.open(
        key: key, iv: iv, aad: bytes[0..<Self.encryptedHeaderSize], ciphertext: bytes[Self.encryptedHeaderSize..<end],
        tag: Array(bytes[end...]))
    } catch {
      throw Failure("\(error.description) (device \(deviceName))")
    }
  }

  /// An encrypted container of `payload` (the tests' encoder): `payload` is an MF4 (`.MFE`) or
  /// a compressed container (`.MFM`).
  public static func encrypt(
    _ payload: [UInt8], password: String, deviceID: UInt32, iv: [UInt8], salt: [UInt8], iterations: Int
  ) -> [UInt8] {
    var header = magic + [0, 0, 0x11, 0x01] + bigEndianBytes(deviceID)
    header += iv + bigEndianBytes(UInt32(iterations)) + salt
    let key = AESGCM.pbkdf2SHA256(password: password, salt: salt, iterations: iterations)
    let (ciphertext, tag) = AESGCM.seal(key: key, iv: iv, aad: header, plaintext: payload)
    return header + ciphertext + tag
  }

  static func bigEndian(_ b: [UInt8], _ at: Int) -> UInt32 {
    UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
  }

  static func bigEndianBytes(_ v: UInt32) -> [UInt8] {
    [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
  }
}
