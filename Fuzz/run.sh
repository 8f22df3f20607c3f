#!/usr/bin/env bash
# Builds the libFuzzer targets (Swift's -sanitize=fuzzer with AddressSanitizer) and runs each
# for a while: the CANedge name and firmware parsers, the MF4 header reader, the log containers (MFC, MFE, MFM), S3's XML listing parser and the shared index's objects, and JSON +
# schema validation + PKCS#7 bundles. A crash leaves its input in Fuzz/crashes/ (make it a
# regression test) and fails the run.
#
#   Fuzz/run.sh            10 seconds a target (what CI runs)
#   Fuzz/run.sh 600        a longer run
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
work=$(mktemp -d /tmp/edgemount-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p Fuzz/crashes

# One module per target: the sources of the layers it tests, their imports of each other removed.
strip_imports() { mkdir -p "$work/$1"; for f in "${@:2}"; do sed -E '/^import (CANedge|S3|Validation|Cache|Locking|Digest)$/d' "$f" > "$work/$1/$(basename "$f")"; done; }
strip_imports canedge Sources/CANedge/*.swift Sources/Digest/*.swift
strip_imports listing Sources/Cache/HeaderRecord.swift Sources/FileSystem/SharedIndexObject.swift Sources/S3/ListObjectsParser.swift Sources/S3/ObjectVersions.swift Sources/S3/ObjectInfo.swift Sources/S3/S3Error.swift Sources/S3/URIEncoding.swift Sources/S3/HTTPDate.swift
strip_imports validation Sources/CANedge/*.swift Sources/Digest/*.swift Sources/Validation/*.swift Sources/Locking/*.swift
flags=(-sanitize=fuzzer,address -parse-as-library -O -I Sources/CZlib -I Sources/COpenSSL)
swiftc "${flags[@]}" -module-name FuzzCANedge Fuzz/FuzzCANedge.swift "$work"/canedge/*.swift -lz -lcrypto -o "$work/fuzz-canedge"
swiftc "${flags[@]}" -module-name FuzzMF4Header Fuzz/FuzzMF4Header.swift "$work"/canedge/*.swift -lz -lcrypto -o "$work/fuzz-mf4"
swiftc "${flags[@]}" -module-name FuzzContainer Fuzz/FuzzContainer.swift "$work"/canedge/*.swift -lz -lcrypto -o "$work/fuzz-container"
swiftc "${flags[@]}" -module-name FuzzListing Fuzz/FuzzListing.swift "$work"/listing/*.swift -o "$work/fuzz-listing"
swiftc "${flags[@]}" -module-name FuzzValidation Fuzz/FuzzValidation.swift "$work"/validation/*.swift -lz -lcrypto -o "$work/fuzz-validation"

# Leak reports come from Foundation internals and the schema kept for the whole run, not from
# the code under test: only crashes, overflows and hangs count.
export ASAN_OPTIONS=detect_leaks=0
status=0
for target in canedge mf4 container listing validation; do
  corpus=$work/corpus-$target
  mkdir -p "$corpus"
  case $target in
    canedge) printf '00000001-5E0BE100.MF4' > "$corpus/a"; printf 'A1B2C3D4/00000001/00000001-5E0BE100.MF4\nA1B2C3D4/00000001/00000001-5E0BE101.MF4' > "$corpus/b" ;;
    mf4)
      head -c 110000 Tests/Fixtures/bucket-sample/2F6913DB/00001089/00000001-63BEF5CD.MF4 > "$corpus/a"; head -c 4096 Tests/Fixtures/bucket-sample/5BC57FEC/00000001/00000005-643E503A.MFC > "$corpus/b"
      # Every layout the reader follows (DL, HL, DZ deflated and transposed, sorted, tails), without the gap.
      mkdir -p "$work/layouts"
      MF4_LAYOUT_GAP=0 python3 Tests/Support/mf4_layouts.py Tests/Fixtures/bucket-sample/2F6913DB/00001089/00000001-63BEF5CD.MF4 "$work/layouts"
      cp "$work"/layouts/*.mf4 "$corpus/" ;;
    container)
      head -c 4096 Tests/Fixtures/bucket-sample/5BC57FEC/00000001/00000005-643E503A.MFC > "$corpus/a"
      # An encrypted container of a few bytes, with 8 PBKDF2 iterations.
      printf 'Generic File\x00\x00\x11\x01\x5b\xc5\x7f\xec0123456789ab\x00\x00\x00\x080123456789abcdefciphertext-and-tag0123456789abcdef' > "$corpus/b" ;;
    listing) printf '<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken><Contents><Key>a%%20b</Key><Size>1</Size><ETag>"e"</ETag><LastModified>2020-01-01T00:00:00.000Z</LastModified></Contents><CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes></ListBucketResult>' > "$corpus/a"
      printf '<ListVersionsResult><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextKeyMarker>a</NextKeyMarker><NextVersionIdMarker>v</NextVersionIdMarker><DeleteMarker><Key>a%%20b</Key><VersionId>2</VersionId><IsLatest>true</IsLatest><LastModified>2020-01-01T00:00:01Z</LastModified></DeleteMarker><Version><Key>a%%20b</Key><VersionId>1</VersionId><IsLatest>false</IsLatest><LastModified>2020-01-01T00:00:00.000Z</LastModified><ETag>"e"</ETag><Size>1</Size></Version></ListVersionsResult>' > "$corpus/b"
      printf '<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>' > "$corpus/c"
      printf 'edgemount-index 1\n82f8\t00000001-6AE68376.MF4\th\t1793491200000000000\t1793491200500000000\t0\t\tserial number\t2F6913DB\n' > "$corpus/d" ;;
    validation) cp Tests/Fixtures/configs/ce2-01.09-default.json "$corpus/a"; printf '{"log":{"file":{"split_time_period":10,"split_time_offset":20}}}' > "$corpus/b" ;;
  esac
  echo "fuzzing $target for $seconds s" >&2
  if ! "$work/fuzz-$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -artifact_prefix=Fuzz/crashes/$target- "$corpus" > "$work/$target.log" 2>&1; then
    echo "fuzz-$target found a problem:" >&2; tail -30 "$work/$target.log" >&2; status=1
  else
    grep -E "^Done|#[0-9]+.*DONE" "$work/$target.log" | tail -1 >&2
  fi
done
exit $status
