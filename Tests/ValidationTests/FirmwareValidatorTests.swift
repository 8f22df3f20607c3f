import CANedge
import Foundation
import TestSupport
import Testing
import Validation

@Suite struct FirmwareValidatorTests {
  let v0109 = ConfigVersion(major: 1, minor: 9)
  let v0110 = ConfigVersion(major: 1, minor: 10)

  @Test func samePatchLineForTheRightModelIsAccepted() throws {
    let image = FirmwareImage.build(model: .canedge2, major: 1, minor: 9, patch: 5)
    let device = FirmwareValidator.Device(typeCode: "0000001F", firmwareVersion: "01.09.01", configs: [v0109: []])
    #expect(try FirmwareValidator().validate(image, device: device).version == "01.09.05")
  }

  @Test func anotherModelsImageIsRefused() {
    let image = FirmwareImage.build(model: .canedge2GNSS, major: 1, minor: 9, patch: 5)
    let device = FirmwareValidator.Device(typeCode: "0000001F", firmwareVersion: "01.09.01", configs: [:])
    let error = #expect(throws: FirmwareValidator.Rejection.self) { try FirmwareValidator().validate(image, device: device) }
    #expect(error?.description == "this image is CANedge2 GNSS firmware; the device is a CANedge2")
  }

  @Test func aMinorUpgradeNeedsTheNewConfigValidAgainstTheEmbeddedSchema() throws {
    let schema = try Fixtures.bytes("schemas/CANedge2/schema-01.09.json")
    let good = try Fixtures.bytes("configs/ce2-01.09-default.json")
    let image = FirmwareImage.build(model: .canedge2, major: 1, minor: 10, patch: 0, schema: schema)
    let without = FirmwareValidator.Device(typeCode: "0000001F", firmwareVersion: "01.09.01", configs: [v0109: good])
    let missing = #expect(throws: FirmwareValidator.Rejection.self) { try FirmwareValidator().validate(image, device: without) }
    #expect(missing?.description.contains("upload config-01.10.json first") == true)
    let invalid = FirmwareValidator.Device(
      typeCode: "0000001F", firmwareVersion: "01.09.01", configs: [v0110: Array("{\"log\": 1}".utf8)])
    let bad = #expect(throws: FirmwareValidator.Rejection.self) { try FirmwareValidator().validate(image, device: invalid) }
    #expect(bad?.description.contains("not valid for firmware 01.10.00") == true)
    let ready = FirmwareValidator.Device(typeCode: "0000001F", firmwareVersion: "01.09.01", configs: [v0110: good])
    #expect(try FirmwareValidator().validate(image, device: ready).version == "01.10.00")
  }

  @Test func anUnknownDeviceModelIsRefused() {
    let image = FirmwareImage.build(model: .canedge2, major: 1, minor: 9, patch: 5)
    #expect(throws: FirmwareValidator.Rejection.self) {
      try FirmwareValidator().validate(image, device: .init(typeCode: nil, firmwareVersion: nil, configs: [:]))
    }
  }
}

@Suite(.serialized) struct CertificateBundleTests {
  @Test func derAndPemBundlesFromOpensslAreAccepted() throws {
    let certs = try TestCertificates()
    defer { certs.remove() }
    let pem = try certs.validCertificates(2)
    let expected = try certs.sha1s(of: pem)
    for der in [true, false] {
      let bundle = try CertificateBundle([UInt8](try Data(contentsOf: certs.bundle(of: pem, der: der, name: "b.p7b"))))
      #expect(bundle.certificates.map(\.sha1) == expected)
      #expect(bundle.certificates.allSatisfy { $0.subject.contains("CN=s3-valid-") })
    }
  }

  @Test func garbageExpiredAndElevenCertificatesAreRefusedAndEmptyIsAllowed() throws {
    let certs = try TestCertificates()
    defer { certs.remove() }
    #expect(throws: CertificateBundle.Problem.notPKCS7) { try CertificateBundle(Array("not a bundle".utf8)) }
    let expired = try [UInt8](Data(contentsOf: certs.bundle(of: try certs.expiredCertificate(), der: true, name: "old.p7b")))
    let error = #expect(throws: CertificateBundle.Problem.self) { try CertificateBundle(expired) }
    #expect(error?.description.contains("expired on 2021-01-01") == true)
    let eleven = try [UInt8](
      Data(contentsOf: certs.bundle(of: try certs.validCertificates(11, name: "many"), der: true, name: "many.p7b")))
    #expect(throws: CertificateBundle.Problem.tooMany(11)) { try CertificateBundle(eleven) }
    #expect(try CertificateBundle([]).certificates.isEmpty)
  }
}
