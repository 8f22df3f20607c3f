/// One way a JSON document breaks its schema or a device rule.
public struct SchemaViolation: Sendable, Equatable, CustomStringConvertible {
  /// Where, as a JSON path: `$.can_1.filter.id[0].f1`.
  public var path: String
  public var message: String
  /// A value outside an `enum`/`const`: in a `oneOf`, the sign of a branch that was never meant.
  var isValueMismatch = false

  public init(path: String, message: String) {
    self.path = path
    self.message = message
  }

  public static func == (a: SchemaViolation, b: SchemaViolation) -> Bool { a.path == b.path && a.message == b.message }

  public var description: String { "\(path): \(message)" }
}
