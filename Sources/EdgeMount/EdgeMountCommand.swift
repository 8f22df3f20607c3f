import ArgumentParser
import Foundation
import Glibc

/// The `edgemount` command: mounting is the default subcommand.
public struct EdgeMountCommand: ParsableCommand {
  public static let version = "0.1.0"

  public static let configuration = CommandConfiguration(
    commandName: "edgemount",
    abstract: "A FUSE filesystem for the S3 bucket of a CANedge fleet.",
    version: version,
    subcommands: [MountCommand.self, DedupeCommand.self, ValidateCommand.self, DecodeCommand.self],
    defaultSubcommand: MountCommand.self)

  public init() {}

  /// Entry point for the executable: `-o` options expanded, signals blocked, then parsed and run.
  public static func runFromCommandLine() -> Never {
    SignalWatcher.blockSignals()
    let arguments: [String]
    let given = Array(CommandLine.arguments.dropFirst())
    do {
      // `-o` is a mount option list for mounting (the default command) only; the other
      // commands keep their arguments as given (`decode -o OUT` names an output file).
      let others = Set(
        configuration.subcommands.map { $0._commandName }.filter { $0 != MountCommand._commandName })
      arguments = given.first.map(others.contains) == true ? given : try MountOptionTranslator.expand(given)
    } catch {
      FileHandle.standardError.write(Data("edgemount: \(error.description)\n".utf8))
      Glibc.exit(2)
    }
    if arguments == ["--help"] || arguments == ["-h"] || arguments == ["help"] {
      // Mounting is what people run edgemount for: show its options, then the other commands.
      print(EdgeMountCommand.helpMessage(for: MountCommand.self))
      print(
        "\nOTHER COMMANDS:\n  edgemount dedupe BUCKET [--dry-run]   delete duplicate uploads on the server (see 'edgemount dedupe --help')"
      )
      print("  edgemount validate FILE [--schema S] [--device-json D]   check a config, firmware or bundle offline")
      print("  edgemount decode FILE [-o OUT] [--passwords F]   write the MF4 inside an .MFC, .MFE or .MFM log")
      print("  edgemount --version\n  edgemount --generate-completion-script bash|zsh|fish")
      Glibc.exit(0)
    }
    if arguments.first == "validate" { runValidate(Array(arguments.dropFirst())) }
    main(arguments)
    Glibc.exit(0)
  }

  /// `validate` exits 2 on every usage error (ArgumentParser's own code would be 64), so a CI
  /// script can tell "invalid file" (1) from "wrong call" (2).
  static func runValidate(_ arguments: [String]) -> Never {
    do {
      var command = try ValidateCommand.parseAsRoot(arguments)
      try command.run()
      Glibc.exit(0)
    } catch {
      let code = ValidateCommand.exitCode(for: error)
      let message = ValidateCommand.fullMessage(for: error)
      if code == .success {
        print(message)
        Glibc.exit(0)
      }
      FileHandle.standardError.write(Data("\(message)\n".utf8))
      Glibc.exit(2)
    }
  }
}
