import ArgumentParser

/// `canedge-sim`: behaves like CANedge devices on a bucket (used by the demo and the tests).
struct Simulator: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "canedge-sim", abstract: "Simulate CANedge devices on an S3 bucket.",
    subcommands: [SeedCommand.self, SeedLogsCommand.self, RunCommand.self])
}

Simulator.main()
