import ArgumentParser
import DemoFleet
import Foundation
import S3

/// `canedge-sim seed BUCKET`: fills a bucket with a demo fleet.
struct SeedCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "seed", abstract: "Fill a bucket with a demo CANedge fleet (real sample logs plus generated devices).")

  @Argument(help: "Bucket to create and fill.") var bucket: String
  @Option(help: "S3 endpoint URL.") var endpoint: String
  @Option(help: "Folder with bucket-sample/, schemas/, configs/ (the repository's Tests/Fixtures).")
  var fixtures: String = "Tests/Fixtures"
  @Option(help: "Generated devices, besides the sample ones.") var devices: Int = 6
  @Option(help: "Sessions per generated device.") var sessions: Int = 4
  @Option(help: "Splits per session.") var splits: Int = 8
  @Option(help: "Size of each generated log file in KiB (default: 16 to 96 KiB, varying).") var logKib: Int?
  @Option(help: "Share of splits uploaded twice.") var duplicateRate: Double = 0.3
  @Option(help: "Parallel uploads.") var parallel: Int = 8
  @Flag(help: "Turn versioning on for the bucket first (DEVICE/.history/ then keeps every version).")
  var versioning = false

  func run() throws {
    var options = DemoFleet.Options()
    options.generatedDevices = devices
    options.sessionsPerDevice = sessions
    options.splitsPerSession = splits
    options.duplicateRate = duplicateRate
    if let logKib { options.logSize = logKib * 1024...logKib * 1024 }
    let fleet = try DemoFleet(fixtures: URL(fileURLWithPath: fixtures), options: options)
    let client = try SimulatorClient.make(bucket: bucket, endpoint: endpoint)
    try fleet.upload(to: client, parallel: parallel, versioning: versioning)
    print(
      "seeded \(bucket): \(fleet.devices.count) devices, \(fleet.objects.count) objects (\(fleet.redundantCopies.count) duplicate uploads)"
    )
  }
}

/// The simulator's S3 client, with credentials from the usual AWS places.
enum SimulatorClient {
  static func make(bucket: String, endpoint: String) throws -> S3Client {
    let chain = CredentialChain()
    let files = chain.loadFiles()
    let credentials = try chain.resolveCredentials(files: files)
    let region = chain.region(files: files) ?? "us-east-1"
    return S3Client(
      bucket: bucket, endpoint: try S3Endpoint(url: endpoint, region: region), credentials: credentials,
      transport: CurlTransport())
  }
}
