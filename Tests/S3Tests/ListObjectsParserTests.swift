import Foundation
import S3
import Testing

@Suite struct ListObjectsParserTests {
  @Test func parsesObjectsPrefixesAndContinuation() throws {
    let xml = """
      <?xml version="1.0" encoding="UTF-8"?>
      <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
        <Name>fleet</Name><Prefix>A1B2C3D4/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>
        <Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>
        <NextContinuationToken>tok&amp;en==</NextContinuationToken>
        <Contents><Key>A1B2C3D4/device.json</Key><LastModified>2020-01-01T00:00:00.000Z</LastModified>
          <ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>1234</Size><StorageClass>STANDARD</StorageClass></Contents>
        <CommonPrefixes><Prefix>A1B2C3D4/00000001/</Prefix></CommonPrefixes>
        <CommonPrefixes><Prefix>A1B2C3D4/00000002/</Prefix></CommonPrefixes>
      </ListBucketResult>
      """
    let page = try ListObjectsParser.parse(Array(xml.utf8))
    #expect(page.isTruncated)
    #expect(page.nextContinuationToken == "tok&en==")
    #expect(
      page.objects == [
        ListedObject(
          key: "A1B2C3D4/device.json", size: 1234, etag: "0cc175b9c0f1b6a831c399e269772661", lastModified: 1_577_836_800)
      ])
    #expect(page.commonPrefixes == ["A1B2C3D4/00000001/", "A1B2C3D4/00000002/"])
  }

  @Test func decodesXMLEntitiesInKeys() throws {
    let xml =
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a&amp;b &lt;c&gt; &#233;</Key><Size>1</Size><ETag>\"x\"</ETag><LastModified>2020-01-01T00:00:00Z</LastModified></Contents></ListBucketResult>"
    let page = try ListObjectsParser.parse(Array(xml.utf8))
    #expect(page.objects.map(\.key) == ["a&b <c> é"])
  }

  @Test func decodesURLEncodedKeysWhenEncodingTypeIsURL() throws {
    let xml =
      "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated><Contents><Key>a/x+y%2Bz~%C3%A9%0A</Key><Size>3</Size><ETag>\"e\"</ETag><LastModified>2020-01-01T00:00:00Z</LastModified></Contents><CommonPrefixes><Prefix>p%20q/</Prefix></CommonPrefixes></ListBucketResult>"
    let page = try ListObjectsParser.parse(Array(xml.utf8))
    #expect(page.objects.map(\.key) == ["a/x y+z~é\n"])
    #expect(page.commonPrefixes == ["p q/"])
  }

  @Test func emptyResultHasNothing() throws {
    let page = try ListObjectsParser.parse(
      Array("<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>".utf8))
    #expect(page.objects.isEmpty && page.commonPrefixes.isEmpty && !page.isTruncated)
  }

  @Test(arguments: [
    "<ListBucketResult><Contents><Key>a</Key>", "not xml at all", "<Error><Code>x</Code></Error>",
    "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
    "<ListBucketResult><Contents><Key>a</Key><Size>-5</Size></Contents></ListBucketResult>",
  ])
  func malformedListingIsATypedError(xml: String) {
    #expect(throws: S3Error.self) { try ListObjectsParser.parse(Array(xml.utf8)) }
  }

  /// Found by Fuzz/run.sh: FoundationXML crashed on this (invalid UTF-8 in an element name).
  @Test func invalidUTF8ThatCrashedFoundationXMLIsATypedError() throws {
    let input = [UInt8](Data(base64Encoded: "PExpc3RCdWNrZXRSZXN1bP///////wADaW5nVDxMaXlwZXN0QnVja2U+dXJsPC90")!)
    #expect(throws: S3Error.self) { try ListObjectsParser.parse(input) }
    #expect(ErrorResponseParser.parse(status: 500, body: input, requestID: "r").code == "HTTP500")
    #expect(throws: S3Error.self) { try ListObjectsParser.parse(Array("<ListBucketResult>\u{0}</ListBucketResult>".utf8)) }
  }

  @Test func errorBodyIsParsedIntoFields() {
    let xml =
      "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><Resource>/nope</Resource><RequestId>ABC123</RequestId></Error>"
    let e = ErrorResponseParser.parse(status: 404, body: Array(xml.utf8), requestID: nil)
    #expect(
      e
        == ServiceError(
          status: 404, code: "NoSuchBucket", message: "The specified bucket does not exist", requestID: "ABC123",
          resource: "/nope"))
    let bare = ErrorResponseParser.parse(status: 403, body: [], requestID: "R")
    #expect(bare.code == "AccessDenied" && bare.requestID == "R")
  }
}
