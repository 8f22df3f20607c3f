import CANedge
import Testing

@Suite struct LogFileNameTests {
  @Test func parsesSplitEpochAndExtension() throws {
    let name = try #require(LogFileName("00000002-5E0BE1F3.MF4"))
    #expect(name.split == 2 && name.epoch == 0x5E0B_E1F3 && name.fileExtension == "MF4")
    // 2020-01-01 00:00:00 UTC, the reference's own example.
    #expect(LogFileName("00000001-5E0BE100.MFC")?.epoch == 1_577_836_800)
  }

  @Test(arguments: ["00000001-63BEF5CD.MF4", "00000005-643E503A.MFC", "12345678-ABCDEF01.MFE", "00000001-abcdef01.MFM"])
  func acceptsRealNames(name: String) {
    #expect(LogFileName(name) != nil)
  }

  @Test(arguments: [
    "", "00000001-5E0BE100", "0000001-5E0BE100.MF4", "00000001_5E0BE100.MF4", "0000000A-5E0BE100.MF4",
    "00000001-5E0BE10G.MF4", "00000001-5E0BE100.", "00000001-5E0BE100.M/4", "00000001-5E0BE100.MF4.tmp",
    "../../../etc/passwd", "00000001-5E0BE100.MF4\n",
  ])
  func rejectsMalformedNames(name: String) {
    #expect(LogFileName(name) == nil)
  }
}

@Suite struct DeviceIDTests {
  @Test func acceptsEightHexDigitsInEitherCase() {
    #expect(DeviceID("2F6913DB") != nil)
    #expect(DeviceID("2f6913db") != nil)
  }

  @Test(arguments: ["2F6913D", "2F6913DBB", "2F6913DG", "aggregat", "", "2F69 3DB"])
  func rejectsOtherPrefixes(text: String) {
    #expect(DeviceID(text) == nil)
  }
}

@Suite struct DeviceFileKindTests {
  @Test func recognisesDeviceRootFiles() {
    #expect(DeviceFileKind(name: "device.json") == .heartbeat)
    #expect(DeviceFileKind(name: "schema-01.09.json") == .schema(ConfigVersion(major: 1, minor: 9)))
    #expect(DeviceFileKind(name: "config-01.07.json") == .config(ConfigVersion(major: 1, minor: 7)))
    #expect(DeviceFileKind(name: "firmware.bin") == .firmware)
    #expect(DeviceFileKind(name: "certs_server.p7b") == .certificates)
  }

  @Test(arguments: [
    "config-1.9.json", "config-01.09.json~", "config-01.09.jsonx", ".config-01.09.json.swp", "config-01.09.json.tmp", "notes.txt",
  ])
  func otherNamesAreOther(name: String) {
    #expect(DeviceFileKind(name: name) == .other)
  }

  @Test func versionsPrintAndCompareAsMMmm() {
    #expect(ConfigVersion("01.09")?.description == "01.09")
    #expect(ConfigVersion("01.09")! < ConfigVersion("01.10")!)
    #expect(ConfigVersion("01.9") == nil)
  }
}

@Suite struct CRC32Tests {
  @Test func matchesTheStandardCheckValue() {
    #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    #expect(CRC32.hex(Array("123456789".utf8)) == "CBF43926")
    #expect(CRC32.hex([]) == "00000000")
  }
}
