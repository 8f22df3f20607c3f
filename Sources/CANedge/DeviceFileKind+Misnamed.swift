extension DeviceFileKind {
  /// Why `name` looks like a server file under a name the device never reads (a firmware
  /// image, a certificate bundle or a config under another name), with the name to use; nil
  /// for names that are fine as local files (editors' temp and backup files, notes).
  ///
  /// A copy under such a name would be a local file that deploys nothing while the copy
  /// reports success, so the mount refuses to create it.
  public static func misnamedReason(_ name: String) -> String? {
    guard !name.hasPrefix("."), DeviceFileKind(name: name) == .other else { return nil }
    let lower = name.lowercased()
    if stagedFirmwareVersion(name) != nil { return nil }
    if lower.hasSuffix(".bin") {
      return
        "a device reads firmware only from firmware.bin: copy the image as firmware.bin (or as firmware-MM.mm.pp.bin to stage it locally for checking a config of that version)"
    }
    for ext in [".p7b", ".p7c", ".pem", ".crt", ".cer", ".der"] where lower.hasSuffix(ext) {
      return
        "a device reads server certificates only from certs_server.p7b (a PKCS#7 bundle: openssl crl2pkcs7 -nocrl -certfile server.pem -outform DER -out certs_server.p7b)"
    }
    if lower.hasPrefix("config") && lower.hasSuffix(".json") {
      return "a device reads its configuration only from config-MM.mm.json (two digits each, e.g. config-01.09.json)"
    }
    if lower.hasPrefix("schema") && lower.hasSuffix(".json") || lower == "device.json" {
      return "\(name) is a name of the files the device writes"
    }
    return nil
  }

  /// The version `MM.mm` of a firmware image staged locally as `firmware-MM.mm.pp.bin`: never
  /// uploaded; a config save for that version is checked against the schema inside it (a
  /// downgrade, or an upgrade, before `firmware.bin` is copied).
  public static func stagedFirmwareVersion(_ name: String) -> ConfigVersion? {
    guard name.hasPrefix("firmware-"), name.hasSuffix(".bin") else { return nil }
    let parts = name.dropFirst("firmware-".count).dropLast(".bin".count).split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 3, parts[2].utf8.count == 2, parts[2].utf8.allSatisfy(\.isDecimalDigit) else { return nil }
    return ConfigVersion(parts[0] + "." + parts[1])
  }
}
