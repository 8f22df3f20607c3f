import ArgumentParser
import CANedge
import FileSystem
import Foundation
import Glibc

/// `edgemount decode FILE [-o OUT]`: the MF4 inside a local MFC, MFE or MFM log, for scripts
/// and CI. Exit 0 written, 1 the file cannot be decoded (the reason on stderr), 2 usage error.
public struct DecodeCommand: ParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "decode",
    abstract: "Write the MF4 inside a compressed (.MFC), encrypted (.MFE) or both (.MFM) CANedge log.",
    discussion: """
      Compressed logs need nothing more; encrypted ones need the device's password from \
      --passwords, the CANedge converters' passwords.json ({"default": "...", "AABBCCDD": "..."}, \
      readable by its owner only). An encrypted log is written only when its GCM tag holds: a wrong \
      password or a changed byte gives exit 1 and no output. Without -o, the MF4 goes next to FILE \
      with the .MF4 extension (never over an existing file); -o - writes it to stdout.
      """)

  @Argument(help: "The .MFC, .MFE or .MFM file.")
  var file: String

  @Option(name: [.customShort("o"), .long], help: "Where to write the MF4 (default: FILE with .MF4; - for stdout).")
  var output: String?

  @Option(help: "The converters' passwords.json, for encrypted logs.")
  var passwords: String?

  public init() {}

  public func run() throws {
    func fail(_ status: Int32, _ message: String) -> Never {
      FileHandle.standardError.write(Data("edgemount decode: \(message)\n".utf8))
      Glibc.exit(status)
    }
    var store: DevicePasswords?
    if let passwords {
      do { store = try DevicePasswords(path: passwords) } catch { fail(2, error.description) }
    }
    guard let data = FileManager.default.contents(atPath: file) else { fail(2, "cannot read \(file)") }
    let bytes = [UInt8](data)
    guard LogContainer.isContainer(bytes) else { fail(1, "\(file) is not a CANedge container (no 'Generic File' header)") }
    let mf4: [UInt8]
    do { mf4 = try LogContainer.decode(bytes, password: { store?.password(for: $0) }) } catch {
      fail(1, "\(file): \(error.description)")
    }
    let target = output ?? ((file as NSString).deletingPathExtension + ".MF4")
    if target == "-" {
      FileHandle.standardOutput.write(Data(mf4))
      return
    }
    // A new file, written aside and renamed: never half a file, never over an existing one unless -o names it.
    if output == nil, FileManager.default.fileExists(atPath: target) { fail(1, "\(target) exists; give -o to choose") }
    let temporary = target + ".edgemount-decode-\(getpid())"
    guard FileManager.default.createFile(atPath: temporary, contents: Data(mf4)), rename(temporary, target) == 0 else {
      unlink(temporary)
      fail(1, "cannot write \(target): \(String(cString: strerror(errno)))")
    }
    print("\(target): \(mf4.count) bytes of MF4")
  }
}
