// Allocations and time per getattr and lookup on a listed fleet of 20,000 logs, through the
// filesystem core (what the FUSE adapter calls for each request), counted by malloc-interposer.
// Run by hand: Benchmarks/allocations.sh.
import FileSystem
import Foundation
import MallocInterposerSwift
import TestSupport

let devices = 20
let sessions = 20
let splits = 50
let s3 = InMemoryS3(buckets: ["bench"])
for d in 0..<devices {
  let device = String(format: "%08X", 0x1000_0000 + d)
  for session in 1...sessions {
    for split in 1...splits {
      s3.put("bench", String(format: "%@/%08d/%08d-5E0BE100.MF4", device, session, split), [UInt8(split & 0xFF)])
    }
  }
}
let fs = FleetFileSystem(s3: s3.client(bucket: "bench"), settings: MountSettings())

// A walk, as ls -lR makes it: every folder listed once, so the table holds the whole fleet.
var files: [(parent: UInt64, name: String, ino: UInt64)] = []
var folders: [(parent: UInt64, name: String, ino: UInt64)] = []
var pending = [FleetFileSystem.rootIno]
while let folder = pending.popLast() {
  for entry in try fs.listDirectory(ino: folder) {
    if entry.attributes.isDirectory {
      pending.append(entry.attributes.ino)
      folders.append((folder, entry.name, entry.attributes.ino))
    } else {
      files.append((folder, entry.name, entry.attributes.ino))
    }
  }
}
print("listed \(files.count) files in \(folders.count) folders")

/// Runs `body` over `items` three times (the first warms up) and prints the last round's
/// allocations per call and nanoseconds per call.
func measure<T>(_ label: String, _ items: [T], _ body: (T) throws -> Void) rethrows {
  var result = ""
  for _ in 0..<3 {
    MallocInterposerSwift.reset()
    let start = ContinuousClock.now
    MallocInterposerSwift.hook()
    for item in items { try body(item) }
    MallocInterposerSwift.unhook()
    let elapsed = ContinuousClock.now - start
    let stats = MallocInterposerSwift.getStatistics()
    let ns = Double(elapsed.components.attoseconds) / 1e9 + Double(elapsed.components.seconds) * 1e9
    result =
      label.padding(toLength: 44, withPad: " ", startingAt: 0)
      + String(
        format: " %7d calls %7.3f mallocs/call %7.1f bytes/call %6.0f ns/call", items.count,
        Double(stats.mallocCount) / Double(items.count), Double(stats.mallocBytesCount) / Double(items.count),
        ns / Double(items.count))
  }
  print(result)
}

MallocInterposerSwift.initialize()
// The names as the kernel hands them over: C strings, made into Swift strings by the adapter.
let cNames = files.map { strdup($0.name)! }
let cFolderNames = folders.map { strdup($0.name)! }
try measure("getattr of a log", files) { _ = try fs.attributes(ino: $0.ino) }
try measure("getattr of a folder", folders) { _ = try fs.attributes(ino: $0.ino) }
try measure("lookup of a log (String given)", files) { _ = try fs.lookup(parent: $0.parent, name: $0.name) }
try measure("lookup of a log (the kernel's C string)", Array(zip(files, cNames))) { file, cName in
  _ = try fs.lookup(parent: file.parent, cName: cName)
}
try measure("lookup of a folder (the kernel's C string)", Array(zip(folders, cFolderNames))) { folder, cName in
  _ = try fs.lookup(parent: folder.parent, cName: cName)
}
let missing = files.prefix(2000).map { strdup($0.name + "x")! }
try measure("lookup of a missing name (ENOENT)", Array(zip(files.prefix(2000), missing))) { file, cName in
  do { _ = try fs.lookup(parent: file.parent, cName: cName) } catch {}
}
