import Foundation
import S3
import Testing

/// A new, empty directory under the temporary folder (mount points, scratch space).
public func freshDirectory(_ label: String) throws -> String {
  let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))").path
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// Polls `condition` until it holds, recording an issue and throwing after `timeout` seconds.
public func waitUntil(_ what: String, timeout: Double = 20, _ condition: () throws -> Bool) throws {
  let deadline = Date().addingTimeInterval(timeout)
  while Date() < deadline {
    if (try? condition()) == true { return }
    Thread.sleep(forTimeInterval: 0.02)
  }
  Issue.record("timed out waiting until \(what)")
  throw TimedOut(what: what)
}

public struct TimedOut: Error {
  public let what: String
}

/// The value of one extended attribute, as `getfattr` prints it.
public func xattr(_ path: String, _ name: String) throws -> String {
  try Command.run(["getfattr", "--only-values", "-n", name, path]).stdout
}

/// A simulated CANedge (`canedge-sim run`) on a test bucket, polling fast, for 40 s at most.
public func startSimulatedDevice(
  bucket: String, device: String, endpoint: String? = nil, launcher: [String] = [], duration: Int = 40
) throws -> BackgroundProcess {
  try BackgroundProcess(
    launcher + [
      MountedBucket.binDirectory.appendingPathComponent("canedge-sim").path, "run", bucket, "--endpoint",
      try endpoint ?? TestS3.endpointURL, "--device", device, "--fixtures", Fixtures.directory.path, "--poll", "0.3",
      "--heartbeat", "0.3", "--duration", String(duration),
    ])
}

/// Waits (up to 5 s) until something is mounted on `path`, for daemons started in the foreground.
public func waitForMount(_ path: String) {
  for _ in 0..<100 {
    if (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8))?.contains(" \(path) ") == true { return }
    Thread.sleep(forTimeInterval: 0.05)
  }
}

/// A CANedge2 device folder as a real device leaves it: its default 01.09 config, its rule
/// schema and a heartbeat (firmware 01.09.01). Returns the config's bytes.
@discardableResult
public func seedCANedge2Device(_ s3: S3Client, id: String = "A1B2C3D4") throws -> [UInt8] {
  let config = try Fixtures.bytes("configs/ce2-01.09-default.json")
  try s3.putObject(key: "\(id)/config-01.09.json", body: config)
  try s3.putObject(key: "\(id)/schema-01.09.json", body: try Fixtures.bytes("schemas/CANedge2/schema-01.09.json"))
  try s3.putObject(
    key: "\(id)/device.json",
    body: Array(
      #"{"id":"\#(id)","type":"0000001F","kpub":"","fw_ver":"01.09.01","cfg_name":"config-01.09.json","sch_name":"schema-01.09.json","cfg_crc32":"00000000"}"#
        .utf8))
  return config
}

/// A file with exactly this name, in a directory of its own under the temporary folder (so
/// `cp FILE DIR/` keeps the name).
public func temporaryFile(_ bytes: [UInt8], named name: String) throws -> String {
  let directory = try freshDirectory("file")
  let path = directory + "/" + name
  try Data(bytes).write(to: URL(fileURLWithPath: path))
  return path
}

/// What a local file holds after a write or a truncation: the reference the save models
/// check the mount against.
extension Array where Element == UInt8 {
  public mutating func write(_ data: [UInt8], at offset: Int) {
    if count < offset + data.count { self += [UInt8](repeating: 0, count: offset + data.count - count) }
    replaceSubrange(offset..<offset + data.count, with: data)
  }

  public mutating func truncate(to size: Int) {
    if count > size { removeSubrange(size...) } else { self += [UInt8](repeating: 0, count: size - count) }
  }
}
