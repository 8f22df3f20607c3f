import Digest

/// The MF4 at the start of a container (`.MFC`, `.MFE`, `.MFM`), from a prefix of the object:
/// the object is fetched from its start in pieces and decoded as far as a caller asks, so a
/// log's header is read without its whole download.
///
/// Bounded like an MF4 header read: at most `maxRequests` fetches and `maxBytes` of the object
/// (the first fetch `firstFetch`, then `nextFetch` each). Decrypted bytes here are not
/// authenticated (GCM's tag is at the end of the file): they serve to find a recording time,
/// never as file content; with a wrong password they are noise, in which no MF4 header is found.
public final class ContainerPrefixReader {
  public static let firstFetch = 128 * 1024
  public static let nextFetch = 64 * 1024
  public static let maxRequests = 12
  public static let maxBytes = 512 * 1024

  let objectSize: UInt64
  let fetch: (Range<UInt64>) throws -> [UInt8]
  let password: (String) -> String?
  /// The object's bytes from its start, as fetched.
  private var raw: [UInt8] = []
  public private(set) var container: LogContainer?
  private var key: [UInt8]?
  /// Decrypted payload (encrypted containers).
  private var plain: [UInt8] = []
  private var inner: LogContainer?
  private var decoder: HeatshrinkDecoder?
  /// Bytes of the compressed stream given to the decoder so far.
  private var fed = 0
  /// The MF4 bytes decoded so far.
  private var decoded: [UInt8] = []
  public private(set) var requests = 0
  public private(set) var bytesFetched = 0

  public init(objectSize: UInt64, password: @escaping (String) -> String?, fetch: @escaping (Range<UInt64>) throws -> [UInt8]) {
    self.objectSize = objectSize
    self.password = password
    self.fetch = fetch
  }

  /// Whether the whole object was fetched and decoded: then `decodedSize` is exact.
  public var complete: Bool { UInt64(raw.count) == objectSize }
  public var decodedSize: Int { decoded.count }

  /// The decoded bytes of `range`, decoding further as needed; fewer at the end of the stream.
  public func bytes(_ range: Range<UInt64>) throws -> [UInt8] {
    while UInt64(decoded.count) < range.upperBound, !complete {
      try fetchMore()
    }
    let lower = Int(min(range.lowerBound, UInt64(decoded.count)))
    let upper = Int(min(range.upperBound, UInt64(decoded.count)))
    return Array(decoded[lower..<upper])
  }

  private func fetchMore() throws {
    guard requests < Self.maxRequests else {
      throw LogContainer.Failure("the header needs more than \(Self.maxRequests) reads of the container")
    }
    let size = requests == 0 ? Self.firstFetch : Self.nextFetch
    let end = min(objectSize, UInt64(raw.count + size))
    guard bytesFetched + Int(end) - raw.count <= Self.maxBytes else {
      throw LogContainer.Failure("the header needs more than \(Self.maxBytes / 1024) KiB of the container")
    }
    let start = UInt64(raw.count)
    let piece = try fetch(start..<end)
    guard piece.count == Int(end - start) else { throw LogContainer.Failure("the container is shorter than listed") }
    requests += 1
    bytesFetched += piece.count
    raw += piece
    try advance()
  }

  /// Decodes what the new bytes allow.
  private func advance() throws {
    if container == nil {
      guard raw.count >= LogContainer.encryptedHeaderSize || complete else { return }
      let parsed = try LogContainer.parse(raw)
      container = parsed
      if case .encrypted = parsed.kind {
        guard let secret = password(parsed.deviceName) else {
          throw LogContainer.Failure("encrypted by device \(parsed.deviceName): no password for it (--passwords)")
        }
        key = parsed.key(password: secret)
      }
    }
    guard let container else { return }
    let bound = Int(min(objectSize * UInt64(LogContainer.maxExpansion) + (1 << 20), 1 << 34))
    switch container.kind {
    case .compressed:
      try feed(container, raw, from: LogContainer.compressedHeaderSize, bound: bound)
    case .encrypted(let iv, _, _):
      // Ciphertext up to the tag (the last 16 bytes of the object).
      let cipherEnd = min(raw.count, Int(objectSize) - LogContainer.tagSize)
      let have = LogContainer.encryptedHeaderSize + plain.count
      if cipherEnd > have {
        plain += AESGCM.decryptUnauthenticated(key: key!, iv: iv, offset: UInt64(plain.count), ciphertext: raw[have..<cipherEnd])
      }
      if inner == nil, plain.count >= LogContainer.compressedHeaderSize, LogContainer.isContainer(plain) {
        inner = try LogContainer.parse(plain)
        guard case .compressed = inner!.kind else { throw LogContainer.Failure("an encrypted container inside an encrypted one") }
      }
      if let inner {
        try feed(inner, plain, from: LogContainer.compressedHeaderSize, bound: bound)
      } else if plain.count >= LogContainer.compressedHeaderSize || complete {
        decoded = plain
      }
    }
  }

  private func feed(_ container: LogContainer, _ source: [UInt8], from start: Int, bound: Int) throws {
    guard source.count > start else { return }
    if decoder == nil {
      guard case .compressed(let w, let l) = container.kind else { return }
      do { decoder = try HeatshrinkDecoder(windowBits: w, lookaheadBits: l) } catch {
        throw LogContainer.Failure(error.description)
      }
      fed = start
    }
    let taken = decoder!.decode(source[fed...], into: &decoded, limit: bound)
    fed += taken
    if fed < source.count { throw LogContainer.Failure("the compressed stream expands to more than \(bound) bytes") }
  }
}
