import Foundation
import TestSupport
import Testing

@testable import Validation

/// The validator on the real CANedge schemas and configs, and against Python's `jsonschema`
/// (an independent implementation) on mutated configs.
@Suite struct JSONSchemaValidatorTests {
  func load(_ path: String) throws -> JSONValue { try JSONDocument.parse(try Fixtures.bytes(path)) }

  var ce2Schema09: JSONValue { get throws { try load("schemas/CANedge2/schema-01.09.json") } }
  var ce2Config09: JSONValue { get throws { try load("configs/ce2-01.09-default.json") } }

  @Test(arguments: [
    ("schemas/CANedge2/schema-01.09.json", "configs/ce2-01.09-default.json"),
    ("schemas/CANedge2/schema-01.08.json", "configs/ce2-01.08-default.json"),
    ("schemas/CANedge2G/schema-01.09.json", "configs/ce2g-01.09-default.json"),
  ])
  func defaultConfigsAreValid(schema: String, config: String) throws {
    #expect(JSONSchemaValidator(schema: try load(schema)).validate(try load(config)) == [])
  }

  @Test func config0108AgainstSchema0109HasExactlyTheTwoHeartbeatErrors() throws {
    let violations = JSONSchemaValidator(schema: try ce2Schema09).validate(try load("configs/ce2-01.08-default.json"))
    #expect(violations.map(\.path) == ["$.can_1.heartbeat", "$.can_2.heartbeat"])
    #expect(violations.allSatisfy { $0.message.contains("not an allowed property") })
  }

  /// Each mutation must be rejected, with the JSON path of the fault.
  @Test(arguments: [
    ("log.file.split_size", JSONValue.number(513), "$.log.file.split_size"),
    ("log.file.split_size", .number(0), "$.log.file.split_size"),
    ("log.file.split_size", .string("50"), "$.log.file.split_size"),
    ("log.file.split_size", .number(50.5), "$.log.file.split_size"),
    ("can_1.phy.mode", .number(7), "$.can_1.phy"),
    ("general.debug.syslog", .number(9), "$.general.debug.syslog"),
    ("log.file.extra_field", .number(1), "$.log.file.extra_field"),
    ("rtc.ntp_server", .number(1), "$.rtc.ntp_server"),
  ])
  func mutationsAreRejectedWithTheirPath(path: String, value: JSONValue, expectedPath: String) throws {
    let mutated = try ce2Config09.setting(path, to: value)
    let violations = JSONSchemaValidator(schema: try ce2Schema09).validate(mutated)
    #expect(!violations.isEmpty, "\(path) = \(value) was accepted")
    #expect(violations.contains { $0.path.hasPrefix(expectedPath) }, "\(violations)")
  }

  @Test func missingRequiredKeyIsNamed() throws {
    let mutated = try ce2Config09.removing("log.file.split_size")
    let violations = JSONSchemaValidator(schema: try ce2Schema09).validate(mutated)
    #expect(violations.contains { $0.path == "$.log.file.split_size" && $0.message.contains("required") }, "\(violations)")
  }

  @Test func brokenDependencyBranchIsRejected() throws {
    // Encryption enabled (state 1) requires the branch's keyformat/pwd fields.
    let mutated = try ce2Config09.setting("log.encryption.state", to: .number(1))
    let violations = JSONSchemaValidator(schema: try ce2Schema09).validate(mutated)
    #expect(violations.contains { $0.path.hasPrefix("$.log.encryption") }, "\(violations)")
  }

  @Test func lookBehindPatternsWork() throws {
    let schema = JSONValue.object(["type": .string("string"), "pattern": .string("^(?!\\s).+(?<!\\s)$")])
    let v = JSONSchemaValidator(schema: schema)
    #expect(v.validate(.string("name")) == [])
    #expect(v.validate(.string("name ")).count == 1)
    #expect(v.validate(.string(" name")).count == 1)
  }

  @Test func refsOneOfAnyOfNotAndIfThenElse() {
    let schema = JSONValue.object([
      "definitions": .object(["small": .object(["type": .string("integer"), "maximum": .number(9)])]),
      "properties": .object([
        "a": .object(["$ref": .string("#/definitions/small")]),
        "b": .object(["oneOf": .array([.object(["enum": .array([.number(1)])]), .object(["type": .string("integer")])])]),
        "c": .object(["anyOf": .array([.object(["type": .string("string")]), .object(["type": .string("null")])])]),
        "d": .object(["not": .object(["type": .string("string")])]),
        "e": .object(["if": .object(["minimum": .number(10)]), "then": .object(["multipleOf": .number(10)]), "else": .bool(true)]
        ),
      ]),
    ])
    let v = JSONSchemaValidator(schema: schema)
    #expect(v.validate(.object(["a": .number(3), "b": .number(2), "c": .null, "d": .number(1), "e": .number(20)])) == [])
    let bad = v.validate(.object(["a": .number(30), "b": .number(1), "c": .number(1), "d": .string("x"), "e": .number(15)]))
    #expect(bad.map(\.path) == ["$.a", "$.b", "$.c", "$.d", "$.e"])
  }

  /// Python's jsonschema (Draft7Validator) must agree on valid/invalid for every mutation.
  @Test func agreesWithPythonJsonschemaOnMutations() throws {
    let base = try ce2Config09
    let mutations: [(String, JSONValue)] = [
      ("log.file.split_size", .number(600)), ("log.file.split_time_period", .number(-1)), ("rtc.timezone", .number(99)),
      ("can_1.filter.remote_frames", .number(5)), ("general.debug.restart_timer", .string("x")), ("connect.protocol", .number(3)),
      ("log.compression.level", .number(1)), ("rtc.sync", .number(0)), ("can_2.phy.mode", .number(0)),
      ("lin_1.phy.bit_rate", .number(1)),
    ]
    let schemaPath = Fixtures.url("schemas/CANedge2/schema-01.09.json").path
    let validator = JSONSchemaValidator(schema: try ce2Schema09)
    for (path, value) in mutations {
      let mutated = try base.setting(path, to: value)
      let ours = validator.validate(mutated).isEmpty
      let file = FileManager.default.temporaryDirectory.appendingPathComponent("mut-\(UUID()).json")
      try Data(mutated.serialized.utf8).write(to: file)
      defer { try? FileManager.default.removeItem(at: file) }
      let script =
        "import json,sys,jsonschema; s=json.load(open(sys.argv[1])); c=json.load(open(sys.argv[2])); print('valid' if jsonschema.Draft7Validator(s).is_valid(c) else 'invalid')"
      let theirs = try Command.run(["python3", "-c", script, schemaPath, file.path])
      #expect(theirs.status == 0, "\(theirs.stderr)")
      #expect(
        (theirs.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "valid") == ours, "\(path)=\(value): ours \(ours)")
    }
  }
}

extension JSONValue {
  enum PathError: Error { case missing(String) }

  func setting(_ dotted: String, to newValue: JSONValue) throws -> JSONValue {
    var parts = dotted.split(separator: ".").map(String.init)
    let key = parts.removeFirst()
    guard case .object(var o) = self else { throw PathError.missing(dotted) }
    if parts.isEmpty {
      o[key] = newValue
    } else {
      guard let child = o[key] else { throw PathError.missing(dotted) }
      o[key] = try child.setting(parts.joined(separator: "."), to: newValue)
    }
    return .object(o)
  }

  func removing(_ dotted: String) throws -> JSONValue {
    var parts = dotted.split(separator: ".").map(String.init)
    let key = parts.removeFirst()
    guard case .object(var o) = self else { throw PathError.missing(dotted) }
    if parts.isEmpty { o[key] = nil } else { o[key] = try o[key]!.removing(parts.joined(separator: ".")) }
    return .object(o)
  }

  var serialized: String {
    switch self {
    case .null: return "null"
    case .bool(let b): return b ? "true" : "false"
    case .number(let n): return n.description
    case .string(let s):
      let data = try! JSONSerialization.data(withJSONObject: [s], options: [])
      return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    case .array(let a): return "[" + a.map(\.serialized).joined(separator: ",") + "]"
    case .object(let o):
      return "{" + o.map { JSONValue.string($0.key).serialized + ":" + $0.value.serialized }.joined(separator: ",") + "}"
    }
  }
}
