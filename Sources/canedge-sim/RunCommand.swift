import ArgumentParser
import Foundation
import S3

/// `canedge-sim run BUCKET --device ID`: runs one simulated device for a while.
struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run", abstract: "Run a simulated CANedge on a bucket: schema, config sync, heartbeats, log uploads.")

  @Argument(help: "Bucket the device is connected to.") var bucket: String
  @Option(help: "S3 endpoint URL.") var endpoint: String
  @Option(help: "Device ID (8 hex digits).") var device: String
  @Option(help: "Device type code: 0000001F CANedge2, 0000005F CANedge2 GNSS.") var type: String = "0000001F"
  @Option(help: "Firmware version MM.mm.pp.") var firmware: String = "01.09.01"
  @Option(help: "Folder with schemas/ and configs/ (the repository's Tests/Fixtures).") var fixtures: String = "Tests/Fixtures"
  @Option(help: "Seconds between OTA polls (the device default is 600).") var poll: Double = 1
  @Option(help: "Seconds between heartbeats (the device default is 300).") var heartbeat: Double = 1
  @Option(help: "Seconds between log uploads (0: none).") var logEvery: Double = 0
  @Option(help: "Share of log uploads sent twice.") var duplicateRate: Double = 0.3
  @Option(help: "Stop after this many seconds.") var duration: Double = 60

  func run() throws {
    let gnss = type.uppercased() == "0000005F"
    let root = URL(fileURLWithPath: fixtures)
    let version = firmware.split(separator: ".").prefix(2).joined(separator: ".")
    let schema = [UInt8](
      try Data(contentsOf: root.appendingPathComponent("schemas/\(gnss ? "CANedge2G" : "CANedge2")/schema-\(version).json")))
    let config = [UInt8](
      try Data(contentsOf: root.appendingPathComponent("configs/\(gnss ? "ce2g" : "ce2")-\(version)-default.json")))
    let sim = SimulatedDevice(
      s3: try SimulatorClient.make(bucket: bucket, endpoint: endpoint), id: device, type: type, firmware: firmware,
      schema: schema, defaultConfig: config, duplicateRate: duplicateRate)
    for file
      in (try? FileManager.default.contentsOfDirectory(
        atPath: root.appendingPathComponent("schemas/\(gnss ? "CANedge2G" : "CANedge2")").path)) ?? []
    {
      if file.hasPrefix("schema-"), file.hasSuffix(".json") {
        sim.schemasByVersion[String(file.dropFirst(7).dropLast(5))] = [UInt8](
          (try? Data(contentsOf: root.appendingPathComponent("schemas/\(gnss ? "CANedge2G" : "CANedge2")/\(file)"))) ?? Data())
      }
    }
    try sim.powerUp()
    try sim.heartbeat()
    sim.log("powered up, firmware \(firmware)")
    let start = Date()
    var lastHeartbeat = Date()
    var lastLog = Date()
    while Date().timeIntervalSince(start) < duration {
      Thread.sleep(forTimeInterval: poll)
      do {
        try sim.pollFirmware()
        try sim.pollCertificates()
        try sim.poll()
        if Date().timeIntervalSince(lastHeartbeat) >= heartbeat {
          try sim.heartbeat()
          lastHeartbeat = Date()
        }
        if logEvery > 0, Date().timeIntervalSince(lastLog) >= logEvery {
          try sim.uploadLog()
          lastLog = Date()
        }
      } catch {
        sim.log("S3 error: \(error) (retrying next poll)")
      }
    }
  }
}
