import CANedge
import Testing

@Suite struct FirmwareImageTests {
  @Test(arguments: DeviceModel.allCases)
  func readsTheModelAndVersionFromTheHeader(model: DeviceModel) throws {
    let image = try FirmwareImage(FirmwareImage.build(model: model, major: 1, minor: 9, patch: 3))
    #expect(image.model == model && image.version == "01.09.03" && image.schemaRange == nil)
  }

  @Test func magicsAreThePublishedOnes() throws {
    let ce2 = FirmwareImage.build(model: .canedge2, major: 1, minor: 0, patch: 0)
    #expect(Array(ce2.prefix(4)) == [0xBA, 0xAD, 0xA5, 0x55])
    #expect(DeviceModel(typeCode: "0000005f") == .canedge2GNSS)
  }

  @Test func findsEmbeddedSchemaAndConfig() throws {
    let bytes = FirmwareImage.build(
      model: .canedge2, major: 1, minor: 10, patch: 0, schema: Array("{\"type\":\"object\"}".utf8), config: Array("{}".utf8))
    let image = try FirmwareImage(bytes)
    #expect(String(decoding: bytes[image.schemaRange!], as: UTF8.self) == "{\"type\":\"object\"}")
    #expect(String(decoding: bytes[image.configRange!], as: UTF8.self) == "{}")
  }

  @Test func rejectsShortUnknownAndOutOfBoundsImages() {
    #expect(throws: FirmwareImage.Problem.tooShort(10)) { try FirmwareImage([UInt8](repeating: 0, count: 10)) }
    #expect(throws: FirmwareImage.Problem.unknownMagic("00000000")) { try FirmwareImage([UInt8](repeating: 0, count: 64)) }
    var bad = FirmwareImage.build(model: .canedge2, major: 1, minor: 9, patch: 0)
    bad[24...31] = [0, 0, 0, 40, 0xFF, 0xFF, 0xFF, 0xFF]
    #expect(throws: FirmwareImage.Problem.badSection("schema")) { try FirmwareImage(bad) }
  }
}
