import ArgumentParser
import CANedge
import FileSystem
import Foundation
import Logging
import S3

/// `edgemount dedupe BUCKET [--dry-run]`: deletes redundant duplicate uploads on the server.
public struct DedupeCommand: ParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "dedupe",
    abstract: "Delete duplicate uploads of log files on the server (identical copies only).",
    discussion: """
      A device uploads a log file again when the confirmation of an upload is lost, so a split \
      can be stored under several epochs. This keeps the copy with the lowest epoch and deletes \
      the others, but only copies that are the same object (same size, and the same ETag where \
      both are plain MD5s). Copies that differ are listed and kept. Each deleted copy is printed.
      """)

  @Argument(help: "The bucket: BUCKET or s3://BUCKET[/PREFIX].")
  var bucket: String

  @Flag(help: "Print what would be deleted; delete nothing.")
  var dryRun = false

  @OptionGroup(title: "S3")
  var s3: S3Options

  public init() {}

  public func run() throws {
    LoggingSystem.bootstrap { label in
      var h = StreamLogHandler.standardError(label: label)
      h.logLevel = .warning
      return h
    }
    let logger = Logger(label: "edgemount.dedupe")
    let location: BucketLocation
    do { location = try BucketLocation(bucket) } catch { throw fail(error.description) }
    let client: S3Client
    do {
      let (c, credentials) = try s3.client(bucket: location.bucket, logger: logger)
      try Startup.checkAccess(c.with(retryPolicy: RetryPolicy(maxAttempts: 3, deadline: .seconds(8))), credentials: credentials)
      client = c
    } catch {
      throw fail("\(error)")
    }

    var objects: [(key: String, size: UInt64, etag: String)] = []
    var token: String?
    repeat {
      let page: ListPage
      do {
        page = try client.listPage(prefix: location.prefix, delimiter: nil, continuationToken: token)
      } catch {
        throw fail("listing failed: \(error)")
      }
      objects += page.objects.map { ($0.key, $0.size, $0.etag) }
      token = page.isTruncated ? page.nextContinuationToken : nil
      if objects.count % 10_000 < 1000, objects.count >= 10_000 { progress("listed \(objects.count) objects…") }
    } while token != nil

    let plan = DedupePlan(objects: objects, rootPrefix: location.prefix)
    for group in plan.conflicts {
      print("keep (copies differ): \(group.joined(separator: " "))")
    }
    var removed = 0
    var freed: UInt64 = 0
    var failures = 0
    // Each DELETE says who made it, as the mount's do.
    let editedBy = Editor(user: Editor.userName(getuid()), program: "edgemount").editedBy(
      host: MountSettings.localHostName(), software: "edgemount/\(EdgeMountCommand.version)")
    for (i, removal) in plan.removals.enumerated() {
      if dryRun {
        print("would delete \(removal.key) (\(removal.size) bytes, same as \(removal.keptKey))")
        continue
      }
      do {
        // Checked again just before deleting: the copy and its keeper must still be the same object.
        let copy = try client.headObject(key: removal.key)
        let keeper = try client.headObject(key: removal.keptKey)
        guard copy.size == keeper.size, !(copy.etag.isPlainMD5 && keeper.etag.isPlainMD5) || copy.etag == keeper.etag else {
          print("kept \(removal.key): it changed and now differs from \(removal.keptKey)")
          continue
        }
        try client.deleteObject(key: removal.key, metadata: [Editor.metadataName: editedBy])
        removed += 1
        freed += removal.size
        print("deleted \(removal.key) (\(removal.size) bytes, same as \(removal.keptKey))")
      } catch {
        failures += 1
        FileHandle.standardError.write(Data("edgemount dedupe: could not delete \(removal.key): \(error)\n".utf8))
      }
      if (i + 1) % 500 == 0 { progress("\(i + 1) of \(plan.removals.count) copies handled…") }
    }
    if dryRun {
      print(
        "dry run: \(plan.removals.count) duplicate copies, \(plan.bytes) bytes, would be deleted; \(plan.conflicts.count) splits with differing copies kept"
      )
    } else {
      print(
        "deleted \(removed) duplicate copies, freed \(freed) bytes; \(plan.conflicts.count) splits with differing copies kept")
    }
    if failures > 0 { throw ExitCode(1) }
  }

  private func progress(_ text: String) {
    FileHandle.standardError.write(Data("\(text)\n".utf8))
  }

  private func fail(_ sentence: String) -> ExitCode {
    FileHandle.standardError.write(Data("edgemount dedupe: \(sentence)\n".utf8))
    return ExitCode(1)
  }
}
