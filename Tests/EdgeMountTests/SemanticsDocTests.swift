import Foundation
import Testing

/// `docs/SEMANTICS.md` is the user's contract, and each of its sections is pinned by named
/// tests: a `// SEMANTICS.md § HEADING` line right above a test's `@Test` says that the test
/// checks that section. This fails when a section has no such test, or a pin names a section
/// that no longer exists (the doc or the tests drifted). Model: mountpoint-s3's
/// `semantics_doc_test`.
@Suite struct SemanticsDocTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  static let marker = "// SEMANTICS.md § "

  /// The `##` and `###` headings of the doc.
  static func headings() throws -> [String] {
    let text = try String(contentsOf: root.appendingPathComponent("docs/SEMANTICS.md"), encoding: .utf8)
    return text.split(separator: "\n").compactMap { line in
      for prefix in ["### ", "## "] where line.hasPrefix(prefix) { return String(line.dropFirst(prefix.count)) }
      return nil
    }
  }

  /// Every pin in the tests: the heading it names and the test function under it.
  static func pins() throws -> [(heading: String, test: String)] {
    let tests = root.appendingPathComponent("Tests")
    guard let walk = FileManager.default.enumerator(at: tests, includingPropertiesForKeys: nil) else { return [] }
    var found: [(String, String)] = []
    for case let url as URL in walk where url.pathExtension == "swift" {
      let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
      for (i, line) in lines.enumerated() {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix(marker), url.lastPathComponent != "SemanticsDocTests.swift" else { continue }
        let heading = String(trimmed.dropFirst(marker.count))
        // The pin sits on a test: `@Test` on the next line, its function within 16 lines.
        let next = lines[(i + 1)...].prefix(16).map { $0.trimmingCharacters(in: .whitespaces) }
        guard next.first?.hasPrefix("@Test") == true,
          let function = next.first(where: { $0.contains("func ") }).flatMap({ line in
            line.components(separatedBy: "func ").last?.split(separator: "(").first.map(String.init)
          })
        else {
          Issue.record("\(url.lastPathComponent):\(i + 1): a SEMANTICS.md pin not right above a @Test")
          continue
        }
        found.append((heading, "\(url.deletingPathExtension().lastPathComponent).\(function)"))
      }
    }
    return found
  }

  @Test func everySectionOfTheSemanticsDocIsPinnedByANamedTest() throws {
    let headings = try Self.headings()
    let pins = try Self.pins()
    #expect(headings.count >= 10, "\(headings)")
    for heading in headings {
      let tests = pins.filter { $0.heading == heading }.map(\.test)
      #expect(!tests.isEmpty, "SEMANTICS.md section '\(heading)' is pinned by no test")
    }
    for pin in pins where !headings.contains(pin.heading) {
      Issue.record("\(pin.test) pins '\(pin.heading)', which is no section of SEMANTICS.md")
    }
  }
}
