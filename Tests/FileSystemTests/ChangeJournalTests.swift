import Foundation
import TestSupport
import Testing

@testable import FileSystem

/// `.edgemount/changes.csv` and the `edited-by` value: what untrusted names become, CSV that
/// Python's csv module reads back, and the bound on rows.
@Suite struct ChangeJournalTests {
  @Test func editorNamesFitAHeaderAndACSVField() {
    let editor = Editor(user: "älice smith", program: "Web Content,\"x\"\r\n")
    #expect(editor.user == "_lice_smith")
    #expect(editor.program == "Web_Content__x__")  // "\r\n" is one character
    #expect(Editor(user: "", program: String(repeating: "a", count: 300)).user == "unknown")
    #expect(Editor(user: "u", program: String(repeating: "a", count: 300)).program.count == 64)
    #expect(editor.editedBy(host: "ws 12", software: "edgemount/1.4.0") == "_lice_smith@ws_12 Web_Content__x__ edgemount/1.4.0")
  }

  @Test func rowsReadBackWithPythonsCSVModule() throws {
    let clock = ManualClock()
    let journal = ChangeJournal(host: "ws-12", software: "edgemount/1.4.0", clock: clock, capacity: 3)
    let alice = Editor(user: "alice", program: "vim")
    journal.recordChange(.put, deviceKey: "A/", device: "A", file: "config-01.09.json", versionID: "v1", size: 10, editor: alice)
    journal.recordRefusal(
      device: "A", file: "config-01.09.json", reason: "split_size: 9999 is more than 512, \"the maximum\"\r\nsee schema",
      editor: alice)
    journal.recordChange(.delete, deviceKey: "A/", device: "A", file: "firmware.bin", versionID: nil, size: nil, editor: alice)
    journal.recordChange(.put, deviceKey: "A/", device: "A", file: "certs_server.p7b", versionID: "v3", size: 5, editor: alice)
    #expect(journal.changeCount(deviceKey: "A/") == 3)
    #expect(journal.editedBy(versionID: "v3") == "alice@ws-12 vim edgemount/1.4.0")
    let csv = journal.csv
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("changes-\(UUID()).csv").path
    try Data(csv.utf8).write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    let r = try Command.run([
      "python3", "-c",
      "import csv, json, sys; print(json.dumps(list(csv.DictReader(open(sys.argv[1], newline='')))))", path,
    ])
    #expect(r.status == 0, "\(r.stderr)")
    let rows = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: String]])
    // Capacity 3: the oldest row went, and a line says so.
    #expect(rows.count == 4, "\(rows)")
    #expect(rows[0]["reason"] == "1 older rows dropped")
    #expect(rows[1]["action"] == "refused")
    #expect(rows[1]["reason"] == "split_size: 9999 is more than 512, \"the maximum\"\r\nsee schema")
    #expect(rows[2]["action"] == "delete" && rows[2]["version_id"] == "" && rows[2]["size"] == "")
    #expect(rows[3]["version_id"] == "v3" && rows[3]["size"] == "5" && rows[3]["user"] == "alice" && rows[3]["program"] == "vim")
    #expect(rows[3]["time"]?.hasSuffix("Z") == true)
  }
}
