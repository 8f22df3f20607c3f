import CANedge
import Foundation
import Locking
import S3

/// A bucket's worth of CANedge devices for the demo and the tests: the real sample logs plus
/// generated devices with heartbeat, schema and config files, and duplicate uploads the way a
/// device makes them when an upload confirmation is lost.
public struct DemoFleet: Sendable {
  /// One object to upload.
  public struct Object: Sendable {
    public var key: String
    public var body: [UInt8]
    public var metadata: [String: String]
  }

  /// A file the mounted view must show, by its path below the mount point.
  public struct ViewFile: Sendable, Equatable {
    public var path: String
    public var size: UInt64
    public var mtime: Int64
    /// The key it is read from.
    public var key: String
  }

  public struct Options: Sendable {
    public var generatedDevices = 4
    public var sessionsPerDevice = 3
    public var splitsPerSession = 6
    /// Share of splits uploaded twice (identical copies, later epoch).
    public var duplicateRate = 0.3
    /// Splits uploaded twice with different content (the view must show both).
    public var conflictingSplits = 1
    public var logSize = 16 * 1024...96 * 1024
    public var seed: UInt64 = 0x0CA7_ED6E
    /// Objects outside any device, which the device tree must not show.
    public var foreignObjects = ["aggregations/2020/summary.csv", "README.txt", "aggregations/index.json"]
    public init() {}
  }

  public private(set) var objects: [Object] = []
  public private(set) var view: [ViewFile] = []
  public private(set) var devices: [String] = []
  /// Keys of identical redundant copies (what `dedupe` would remove).
  public private(set) var redundantCopies: [String] = []

  /// Builds the fleet from the fixtures folder (`bucket-sample/`, `schemas/`, `configs/`, `device/`).
  public init(fixtures: URL, options: Options = Options()) throws {
    var rng = SplitMix64(seed: options.seed)
    try addSampleLogs(from: fixtures.appendingPathComponent("bucket-sample"))
    let schemas = [
      (
        "0000001F", try Self.read(fixtures, "schemas/CANedge2/schema-01.09.json"),
        try Self.read(fixtures, "configs/ce2-01.09-default.json")
      ),
      (
        "0000005F", try Self.read(fixtures, "schemas/CANedge2G/schema-01.09.json"),
        try Self.read(fixtures, "configs/ce2g-01.09-default.json")
      ),
    ]
    for d in 0..<options.generatedDevices {
      let id = String(format: "%08X", UInt32(truncatingIfNeeded: rng.next()) | 0x1000_0000)
      devices.append(id)
      let (type, schema, config) = schemas[d % schemas.count]
      let base = Int64(1_600_000_000 + d * 86_400)
      add(key: "\(id)/schema-01.09.json", body: schema, mtime: base, viewPath: "\(id)/schema-01.09.json")
      add(key: "\(id)/config-01.09.json", body: config, mtime: base, viewPath: "\(id)/config-01.09.json")
      let heartbeat = Self.heartbeat(id: id, type: type, config: config, synced: d % 2 == 0)
      add(key: "\(id)/device.json", body: heartbeat, mtime: base, viewPath: "\(id)/device.json")
      var conflictsLeft = d == 0 ? options.conflictingSplits : 0
      for s in 1...options.sessionsPerDevice {
        let session = String(format: "%08d", s)
        for split in 1...options.splitsPerSession {
          let epoch = base + Int64(s * 3600 + split * 60)
          let size = Int.random(in: options.logSize, using: &rng)
          let body = Self.logBody(size: size, rng: &rng)
          let name = Self.logName(split: split, epoch: epoch)
          let key = "\(id)/\(session)/\(name)"
          add(key: key, body: body, mtime: epoch, viewPath: key, metadata: Self.logMetadata(epoch: epoch, index: split))
          if Double.random(in: 0..<1, using: &rng) < options.duplicateRate {
            let copyKey = "\(id)/\(session)/\(Self.logName(split: split, epoch: epoch + 7 + Int64(split)))"
            add(key: copyKey, body: body, mtime: nil, viewPath: nil, metadata: Self.logMetadata(epoch: epoch, index: split))
            redundantCopies.append(copyKey)
          } else if conflictsLeft > 0 {
            conflictsLeft -= 1
            var other = body
            other[other.count - 1] ^= 0xFF
            let copyKey = "\(id)/\(session)/\(Self.logName(split: split, epoch: epoch + 30))"
            add(key: copyKey, body: other, mtime: epoch + 30, viewPath: copyKey)
          }
        }
      }
    }
    for key in options.foreignObjects { objects.append(Object(key: key, body: Array("not a device\n".utf8), metadata: [:])) }
  }

  private mutating func addSampleLogs(from root: URL) throws {
    let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)!
    var paths: [String] = []
    for case let url as URL in files where !url.hasDirectoryPath { paths.append(url.path) }
    for path in paths.sorted() {
      let key = String(path.dropFirst(root.path.count + 1))
      let name = key.split(separator: "/").last!
      guard let logName = LogFileName(name) else { continue }
      let device = String(key.prefix(8))
      if !devices.contains(device) { devices.append(device) }
      add(key: key, body: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), mtime: Int64(logName.epoch), viewPath: key)
    }
  }

  private mutating func add(key: String, body: [UInt8], mtime: Int64?, viewPath: String?, metadata: [String: String] = [:]) {
    objects.append(Object(key: key, body: body, metadata: metadata))
    if let viewPath, let mtime {
      view.append(ViewFile(path: viewPath, size: UInt64(body.count), mtime: mtime, key: key))
    }
  }

  static func read(_ root: URL, _ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: root.appendingPathComponent(path)))
  }

  static func logName(split: Int, epoch: Int64) -> String {
    String(format: "%08d-%08X.MF4", split, UInt32(truncatingIfNeeded: epoch))
  }

  /// An unfinalised MDF 4.11 header, as the device writes it, then pseudo-random records.
  static func logBody(size: Int, rng: inout SplitMix64) -> [UInt8] {
    var body = Array("UnFinMF 4.11    ".utf8)
    body.reserveCapacity(size)
    while body.count < size {
      let v = rng.next()
      withUnsafeBytes(of: v) { body += $0.prefix(size - body.count) }
    }
    return body
  }

  static func logMetadata(epoch: Int64, index: Int) -> [String: String] {
    let date = Date(timeIntervalSince1970: TimeInterval(epoch))
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "UTC")
    f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
    return ["hw": "00.02", "fw": "01.09.01", "net": "fleet-wifi", "timestamp": f.string(from: date), "put-index": String(index)]
  }

  static func heartbeat(id: String, type: String, config: [UInt8], synced: Bool) -> [UInt8] {
    let crc = synced ? CRC32.hex(config) : "00000000"
    let text = """
      {
        "id": "\(id)",
        "type": "\(type)",
        "kpub": "",
        "fw_ver": "01.09.01",
        "hw_ver": "00.02",
        "cfg_ver": "01.09",
        "cfg_name": "config-01.09.json",
        "cfg_crc32": "\(crc)",
        "sch_name": "schema-01.09.json",
        "log_meta": "",
        "space_used_mb": "123/30436",
        "sd_info": "",
        "sd_used_lifespan": "2%",
        "reset_cause": "0",
        "certs_server_sha1": []
      }

      """
    return Array(text.utf8)
  }

  /// Uploads every object (`parallel` at a time), creating the bucket first (with versioning
  /// on if asked, so every later change keeps a version).
  public func upload(to client: S3Client, parallel: Int = 8, versioning: Bool = false) throws {
    try client.createBucket()
    if versioning { try client.setBucketVersioning(enabled: true) }
    let failures = LockedList()
    let objects = self.objects
    DispatchQueue.concurrentPerform(iterations: parallel) { worker in
      for (i, object) in objects.enumerated() where i % parallel == worker {
        do {
          try client.putObject(key: object.key, body: object.body, metadata: object.metadata)
        } catch {
          failures.append("\(object.key): \(error)")
        }
      }
    }
    if let first = failures.first { throw S3Error.invalidResponse("upload failed: \(first)") }
  }
}

/// A small, seedable generator so the same seed gives the same fleet.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  private var state: UInt64
  public init(seed: UInt64) { state = seed }
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

final class LockedList: Sendable {
  private let items = Locked<[String]>([])
  func append(_ s: String) { items.withLock { $0.append(s) } }
  var first: String? { items.withLock { $0.first } }
}
