import DemoFleet
import Foundation
import TestSupport
import Testing

@testable import Validation

/// The strict parser: RFC 8259 exactly, checked on hand-written cases covering the ground of a
/// conformance corpus, and against Python's json (made strict by hooks) on generated documents.
@Suite struct StrictJSONParserTests {
  func accepts(_ text: String) -> Bool { (try? JSONDocument.parse(Array(text.utf8))) != nil }
  func accepts(bytes: [UInt8]) -> Bool { (try? JSONDocument.parse(bytes)) != nil }
  func error(_ bytes: [UInt8]) -> JSONDocument.SyntaxError? {
    do {
      _ = try JSONDocument.parse(bytes)
      return nil
    } catch { return error }
  }
  func error(_ text: String) -> JSONDocument.SyntaxError? { error(Array(text.utf8)) }

  /// Documents every conforming parser must accept.
  static let mustAccept: [String] = [
    "[]", "{}", "[[]]", "[{}]", "{\"a\":[]}", " [ 1 , 2 ] ", "\t\n\r[\n]\n", "0", "-0", "1", "-1", "12345678901234567890",
    "1.5", "-0.0", "0e0", "0E+1", "1e-7", "1.25E-300", "123e45", "[1e999]", "[-1e-999]", "true", "false", "null",
    "\"\"", "\"a\"", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u0000\"", "\"\\u00e9\"", "\"\\uD83D\\uDE00\"", "\"\\uFFFF\"",
    "\"é日本😀\"", "\"\u{7F}\"", "{\"\":0}", "{\"a\":{\"a\":1}}", "{\"a\":1,\"b\":2}", "[null,true,false,\"x\",1,{},[]]",
    "{\"a\" : 1 }", "[\"\\u002F\"]", "[0.000001]", "[1E22]", "{\"a\":[{\"a\":[{\"a\":1}]}]}",
  ]

  /// Documents a strict parser must refuse.
  static let mustRefuse: [String] = [
    "", " ", "[", "]", "{", "}", "[1", "[1,]", "[,1]", "[1,,2]", "{\"a\":1,}", "{,}", "{\"a\"}", "{\"a\":}", "{\"a\" 1}",
    "{a:1}", "{'a':1}", "['a']", "{\"a\":1 \"b\":2}", "[1 2]", "[01]", "[-01]", "[00]", "[1.]", "[.5]", "[-]", "[+1]",
    "[1e]", "[1e+]", "[0x10]", "[NaN]", "[Infinity]", "[-Infinity]", "[nul]", "[True]", "[tru]", "[\"a]", "[\"\\x41\"]",
    "[\"\\u12\"]", "[\"\\uZZZZ\"]", "[\"\\uD800\"]", "[\"\\uDC00\"]", "[\"\\uD800\\u0041\"]", "[\"\\uD800x\"]", "[\"\\'\"]",
    "[\"\t\"]", "[\"\n\"]", "[\"\u{1}\"]", "[1]x", "[1][2]", "{} {}", "[1]//c", "/* c */[1]", "[1/**/]", "# c\n[1]",
    "[\"a\"\"b\"]", "{\"a\":1}}", "[[]", "[1,]]", "\u{C}[1]", "[1] \u{A0}", "{\"a\":1,\"a\":2}", "[{\"x\":[],\"x\":[]}]",
    "{\"a\":{\"b\":1,\"b\":1}}", "[1.0e]", "[- 1]", "[1 .5]", "[\u{200B}1]",
  ]

  @Test func acceptsEveryConformingDocument() {
    for text in Self.mustAccept { #expect(accepts(text), "refused: \(text.debugDescription) \(String(describing: error(text)))") }
  }

  @Test func refusesEveryNonConformingDocument() {
    for text in Self.mustRefuse { #expect(!accepts(text), "accepted: \(text.debugDescription)") }
  }

  @Test func refusesBytesThatAreNotUTF8() {
    let cases: [[UInt8]] = [
      [0x5B, 0x22, 0xFF, 0x22, 0x5D],  // invalid byte
      [0x5B, 0x22, 0xC3, 0x22, 0x5D],  // cut-off sequence
      [0x5B, 0x22, 0xC0, 0xAF, 0x22, 0x5D],  // overlong "/"
      [0x5B, 0x22, 0xE0, 0x80, 0xAF, 0x22, 0x5D],  // overlong, 3 bytes
      [0x5B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x5D],  // an encoded surrogate
      [0x5B, 0x22, 0xF4, 0x90, 0x80, 0x80, 0x22, 0x5D],  // above U+10FFFF
      [0x5B, 0x22, 0x80, 0x22, 0x5D],  // a lone continuation byte
      [0x5B, 0xC3, 0xA9, 0x5D],  // non-ASCII outside a string
    ]
    for bytes in cases {
      let e = error(bytes)
      #expect(e != nil, "accepted \(bytes)")
    }
    #expect(error([0x5B, 0x22, 0xFF, 0x22, 0x5D])?.message.contains("UTF-8") == true)
  }

  @Test func aByteOrderMarkIsRefusedWithItsName() {
    let e = error([0xEF, 0xBB, 0xBF] + Array("{}".utf8))
    #expect(e?.message.contains("byte order mark") == true)
    #expect(e?.line == 1 && e?.column == 1)
  }

  @Test func aRepeatedMemberNameGivesTheJSONPathOfTheSecond() {
    let e = error("{\n  \"log\": {\"file\": {\"split_time_period\": 10, \"split_time_period\": 20}}\n}")
    #expect(e?.line == 2, "\(String(describing: e))")
    #expect(e?.message.contains("$.log.file.split_time_period") == true, "\(String(describing: e))")
    // Names that are one name after Unicode normalisation (NFC "é" and NFD "e\u0301").
    #expect(!accepts("{\"caf\u{E9}\":1,\"cafe\u{301}\":2}"))
    // The same name in sibling objects is fine.
    #expect(accepts("[{\"a\":1},{\"a\":2}]"))
  }

  @Test func trailingCommasAndTrailingTextAreNamedAndPlaced() {
    let comma = error("{\n  \"x\": 1,\n}")
    #expect(comma?.line == 3 && comma?.column == 1, "\(String(describing: comma))")
    #expect(comma?.message.contains("trailing comma") == true)
    #expect(error("[1]\n// note")?.message.contains("comment") == true)
    #expect(error("{'a': 1}")?.message.contains("single quote") == true)
    #expect(error("[01]")?.message.contains("leading zeros") == true)
    #expect(error("[NaN]")?.message.contains("NaN") == true)
    #expect(error("[\"a\tb\"]")?.message.contains("control character") == true)
    #expect(error("[\"\\uD800\"]")?.message.contains("lone surrogate") == true)
    #expect(error("{} x")?.message.contains("after the end") == true)
  }

  @Test func nestingIsBoundedWithoutExhaustingTheStack() {
    let deep = StrictJSONParser.maximumDepth
    #expect(accepts(String(repeating: "[", count: deep) + String(repeating: "]", count: deep)))
    #expect(!accepts(String(repeating: "[", count: deep + 1) + String(repeating: "]", count: deep + 1)))
    // A hostile depth: refused at the bound, long before the stack could run out.
    let hostile = error(String(repeating: "[{\"a\":", count: 500_000))
    #expect(hostile?.message.contains("nest more than \(deep)") == true)
  }

  @Test func numbersKeepTheirExactValue() throws {
    let doc = try JSONDocument.parse(Array("[18446744073709551615, 18446744073709551616, 4294967295, 1.0, 1e2, 0.1]".utf8))
    guard case .array(let items) = doc else { Issue.record("not an array"); return }
    let n = items.map { $0.exactNumber! }
    #expect(n[0] < n[1])
    #expect(n[0].double == n[1].double)  // what Double would have merged
    #expect(n[2].int64 == 4_294_967_295)
    #expect(n[3] == JSONNumber(1) && n[3].isInteger)
    #expect(n[4].int64 == 100)
    #expect(!n[5].isInteger)
    #expect(n[1].description == "18446744073709551616")
    // A schema bound on a 64-bit value is checked exactly.
    let schema = try JSONDocument.parse(Array(#"{"type":"integer","maximum":18446744073709551615}"#.utf8))
    let v = JSONSchemaValidator(schema: schema)
    #expect(v.validate(items[0]).isEmpty)
    #expect(v.validate(items[1]).count == 1)
    #expect(JSONNumber(-5) < JSONNumber(-4.5) && JSONNumber(-0.5) < JSONNumber(0) && JSONNumber(0.25) < JSONNumber(0.3))
    // 2^53 + 1 is odd; as a Double it would round to the even 2^53.
    #expect(JSONNumber(9_007_199_254_740_993).isMultiple(of: 2) == false)
    #expect(JSONNumber(9_007_199_254_740_993).isMultiple(of: 1))
  }

  /// Random documents and mutations of them (commas, quotes, escapes, bytes), judged by the
  /// parser and by Python's json with strict hooks: both must agree on every one.
  @Test func agreesWithPythonsJSONOnGeneratedDocuments() throws {
    var rng = SplitMix64(seed: 0x5EED_0001)
    var cases: [[UInt8]] = []
    let config = try Fixtures.bytes("configs/ce2-01.09-default.json")
    let fragments: [[UInt8]] = [
      Array(",".utf8), Array("}".utf8), Array("]".utf8), Array("\"".utf8), Array("\\".utf8), Array("\\u".utf8),
      Array("\\uD800".utf8), Array("01".utf8), Array("-".utf8), Array(".".utf8), Array("e".utf8), Array("NaN".utf8),
      Array("/*".utf8), [0xEF, 0xBB, 0xBF], [0xFF], [0xC3], [0x09], [0x00], Array(" ".utf8), Array("\"a\":1,".utf8),
    ]
    for _ in 0..<1500 { cases.append(Array(randomDocument(&rng, depth: 0).utf8)) }
    for i in 0..<1500 {
      var bytes = i % 3 == 0 ? config : cases[i]
      for _ in 0..<Int(rng.next() % 3 + 1) {
        let at = Int(rng.next() % UInt64(bytes.count + 1))
        switch rng.next() % 3 {
        case 0: bytes.insert(contentsOf: fragments[Int(rng.next() % UInt64(fragments.count))], at: at)
        case 1: if at < bytes.count { bytes.remove(at: at) }
        default: if at < bytes.count { bytes[at] = UInt8(truncatingIfNeeded: rng.next()) }
        }
      }
      cases.append(bytes)
    }
    let input = cases.map { Data($0).base64EncodedString() }.joined(separator: "\n") + "\n"
    let oracle = try Command.run(
      ["python3", Fixtures.directory.appendingPathComponent("../Support/strict_json_oracle.py").path], input: input)
    #expect(oracle.status == 0, "\(oracle.stderr)")
    let verdicts = oracle.stdout.split(separator: "\n").map { $0 == "1" }
    try #require(verdicts.count == cases.count)
    var disagreements = 0
    for (bytes, python) in zip(cases, verdicts) where accepts(bytes: bytes) != python {
      disagreements += 1
      if disagreements <= 5 {
        Issue.record("python says \(python) for \(String(decoding: bytes.prefix(200), as: UTF8.self).debugDescription)")
      }
    }
    #expect(disagreements == 0)
    #expect(verdicts.filter { $0 }.count > 1000, "the generated set should hold many valid documents too")
  }

  func randomDocument(_ rng: inout SplitMix64, depth: Int) -> String {
    let pick = depth > 4 ? rng.next() % 5 : rng.next() % 7
    switch pick {
    case 0: return ["0", "-1", "3.25", "1e5", "-0.5E-3", "18446744073709551616", "1E400"][Int(rng.next() % 7)]
    case 1: return ["true", "false", "null"][Int(rng.next() % 3)]
    case 2: return ["\"\"", "\"abc\"", "\"\\n\\t\\u00e9\"", "\"日本\"", "\"\\uD83D\\uDE00\"", "\"a\\\"b\""][Int(rng.next() % 6)]
    case 3, 4: return "\"k\(rng.next() % 100)\""
    case 5:
      let n = Int(rng.next() % 4)
      return "[" + (0..<n).map { _ in randomDocument(&rng, depth: depth + 1) }.joined(separator: ", ") + "]"
    default:
      let n = Int(rng.next() % 4)
      let names = (0..<n).map { "k\($0)\(rng.next() % 2 == 0 ? "" : "x")" }
      return "{" + names.map { "\"\($0)\": \(randomDocument(&rng, depth: depth + 1))" }.joined(separator: ",") + "}"
    }
  }
}
