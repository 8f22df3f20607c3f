import Foundation
import Testing

@testable import S3

/// ListObjectVersions and GetBucketVersioning answers as AWS documents them, as SeaweedFS and
/// moto send them, and as hostile or confused servers might.
@Suite struct ObjectVersionsTests {
  /// SeaweedFS 4.48's answer, as captured on this machine (versions and a marker interleaved,
  /// newest first).
  static let seaweed = """
    <?xml version="1.0" encoding="UTF-8"?>
    <ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>vtest</Name><Prefix>D/c</Prefix><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>false</IsTruncated><DeleteMarker><Key>D/config-01.09.json</Key><VersionId>6711a686535e8ab331a04689e183270e</VersionId><IsLatest>true</IsLatest><Owner><ID>anonymous</ID><DisplayName>anonymous</DisplayName></Owner><LastModified>2026-12-05T11:54:40Z</LastModified></DeleteMarker><Version><Key>D/config-01.09.json</Key><VersionId>6711a6866d90a9e45683712ec657bda8</VersionId><IsLatest>false</IsLatest><ETag>&#34;cc255a285b02f117e7d2eeb6a60b7f02&#34;</ETag><Size>3</Size><Owner><ID>edgemount</ID><DisplayName>edgemount</DisplayName></Owner><StorageClass>STANDARD</StorageClass><LastModified>2026-12-05T11:54:40Z</LastModified></Version><Version><Key>D/config-01.09.json</Key><VersionId>6711a68689bf9c590cc86db35ccaf175</VersionId><IsLatest>false</IsLatest><ETag>&#34;e30260020baeb0398ff07b37dd33ed16&#34;</ETag><Size>3</Size><Owner><ID>edgemount</ID><DisplayName>edgemount</DisplayName></Owner><StorageClass>STANDARD</StorageClass><LastModified>2026-12-05T11:54:39Z</LastModified></Version></ListVersionsResult>
    """

  @Test func parsesVersionsAndDeleteMarkersInTheServersOrder() throws {
    let page = try ListVersionsParser.parse(Array(Self.seaweed.utf8))
    #expect(page.versions.count == 3)
    #expect(page.versions[0].isDeleteMarker && page.versions[0].isLatest)
    #expect(page.versions[0].versionID == "6711a686535e8ab331a04689e183270e")
    #expect(page.versions[1].etag == "cc255a285b02f117e7d2eeb6a60b7f02" && page.versions[1].size == 3)
    #expect(page.versions[2].lastModified == HTTPDate.parseISO8601("2026-12-05T11:54:39Z"))
    #expect(!page.isTruncated)
  }

  @Test func urlEncodedKeysAndPagesFromAWS() throws {
    let xml = """
      <ListVersionsResult><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextKeyMarker>D%2Fconfig%2001.json</NextKeyMarker><NextVersionIdMarker>3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo</NextVersionIdMarker><Version><Key>D/config%2001.json</Key><VersionId>null</VersionId><IsLatest>true</IsLatest><LastModified>2009-10-12T17:50:30.000Z</LastModified><ETag>"fba9dede5f27731c9771645a39863328"</ETag><Size>434234</Size></Version><CommonPrefixes><Prefix>D/00000001/</Prefix></CommonPrefixes></ListVersionsResult>
      """
    let page = try ListVersionsParser.parse(Array(xml.utf8))
    #expect(page.versions.first?.key == "D/config 01.json")
    #expect(page.versions.first?.versionID == "null")
    #expect(page.nextKeyMarker == "D/config 01.json")
    #expect(page.nextVersionIDMarker == "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo")
    #expect(page.commonPrefixes == ["D/00000001/"])
  }

  /// A server that ignores `?versions` answers a plain listing: never taken as versions.
  @Test func refusesAnythingButAVersionListing() {
    let cases = [
      "<ListBucketResult><Contents><Key>D/config-01.09.json</Key></Contents></ListBucketResult>",
      "<ListVersionsResult><Version><Key>k</Key><IsLatest>true</IsLatest></Version></ListVersionsResult>",
      "<ListVersionsResult><Version><Key>k</Key><VersionId>1</VersionId><Size>-1</Size></Version></ListVersionsResult>",
      "<ListVersionsResult><Version><Key>k</Key><VersionId>1</VersionId><LastModified>yesterday</LastModified></Version></ListVersionsResult>",
      "<ListVersionsResult><IsTruncated>true</IsTruncated></ListVersionsResult>",
      "<ListVersionsResult><Version>",
      "",
    ]
    for xml in cases {
      #expect(throws: S3Error.self, "\(xml)") { try ListVersionsParser.parse(Array(xml.utf8)) }
    }
  }

  @Test func bucketVersioningAsAWSAndMotoSayIt() throws {
    let aws =
      #"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>"#
    #expect(try VersioningParser.parse(Array(aws.utf8)) == .enabled)
    #expect(
      try VersioningParser.parse(Array("<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>".utf8))
        == .suspended)
    // Never enabled: no Status at all.
    #expect(try VersioningParser.parse(Array(#"<VersioningConfiguration xmlns="x"/>"#.utf8)) == .off)
    #expect(try VersioningParser.parse([]) == .off)
    let moto =
      #"<?xml version="1.0" encoding="utf-8"?><GetBucketVersioningResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></GetBucketVersioningResponse>"#
    #expect(try VersioningParser.parse(Array(moto.utf8)) == .enabled)
    #expect(throws: S3Error.self) { try VersioningParser.parse(Array("<ListBucketResult/>".utf8)) }
    #expect(throws: S3Error.self) {
      try VersioningParser.parse(Array("<VersioningConfiguration><Status>On</Status></VersioningConfiguration>".utf8))
    }
  }
}
