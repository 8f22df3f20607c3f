import ArgumentParser
import DemoFleet
import Foundation
import Locking
import S3

/// `canedge-sim seed-logs BUCKET`: a large fleet of real MF4 logs for the `.by-date/`
/// benchmark, generated while uploading (nothing is held in memory). Each log is the real
/// sample with its recording time rewritten, cut after its first record.
///
/// Device d records two sessions a day from `--start`, each of `--splits` 10-minute splits,
/// uploaded 30 s after they close; every fifth device is offline and uploads three days late.
struct SeedLogsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "seed-logs", abstract: "Fill a bucket with many real MF4 logs on known days (benchmarks).")

  @Argument(help: "Bucket to create and fill.") var bucket: String
  @Option(help: "S3 endpoint URL.") var endpoint: String
  @Option(help: "Folder with bucket-sample/ (the repository's Tests/Fixtures).") var fixtures: String = "Tests/Fixtures"
  @Option(help: "Devices.") var devices: Int = 40
  @Option(help: "Sessions per device.") var sessions: Int = 50
  @Option(help: "Splits per session.") var splits: Int = 50
  @Option(help: "The first session's start, seconds since 1970 (default 2026-11-01).") var start: Int64 = 1_793_491_200
  @Option(help: "Parallel uploads.") var parallel: Int = 32
  @Option(
    help:
      "Bytes of each log: the default keeps the header and first record; less makes logs whose time cannot be read (listing benchmarks)."
  )
  var logBytes: Int = SeedLogsCommand.length

  /// The sample up to just past its first record (106,800 + one record).
  static let length = 107_008

  func validate() throws {
    guard (160...Self.length).contains(logBytes) else {
      throw ValidationError("--log-bytes must be 160 to \(Self.length)")
    }
  }

  func run() throws {
    let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixtures).appendingPathComponent(SampleLog.fixture)))
    let sample = Array(whole.prefix(Self.length))
    let logBytes = self.logBytes
    let client = try SimulatorClient.make(bucket: bucket, endpoint: endpoint)
    try client.createBucket()
    let total = devices * sessions * splits
    let failures = Locked<[String]>([])
    let (devices, sessions, splits, start) = (self.devices, self.sessions, self.splits, self.start)
    DispatchQueue.concurrentPerform(iterations: parallel) { worker in
      for i in stride(from: worker, to: total, by: parallel) {
        let d = i / (sessions * splits)
        let s = i / splits % sessions
        let k = i % splits
        let sessionStart = start + Int64(d) * 7 * 3600 + Int64(s) * 43_200
        let offset = Double(k * 600) + 0.5
        let late: Int64 = d % 5 == 4 ? 3 * 86_400 : 0
        let upload = sessionStart + Int64(k + 1) * 600 + 30 + late
        let device = String(format: "%08X", 0x3000_0000 + d)
        let key = "\(device)/\(String(format: "%08d", s + 1))/\(SampleLog.name(split: k + 1, uploaded: upload))"
        do {
          try client.putObject(
            key: key, body: Array(SampleLog.rewrite(sample, sessionStart: sessionStart, offset: offset).prefix(logBytes)))
        } catch {
          failures.withLock { $0.append("\(key): \(error)") }
        }
      }
    }
    if let first = failures.withLock({ $0.first }) { throw S3Error.invalidResponse("upload failed: \(first)") }
    print("seeded \(bucket): \(devices) devices, \(total) MF4 logs of \(logBytes) bytes")
  }
}
