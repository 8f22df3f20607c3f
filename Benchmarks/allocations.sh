#!/usr/bin/env bash
# Allocations and time per getattr and lookup through the filesystem core, on a listed fleet of
# 20,000 logs in the in-memory S3 (no kernel, no server). Allocations are counted by
# malloc-interposer; run by hand, a few seconds. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product getattr-allocations >/dev/null
"$(swift build -c release --show-bin-path)/getattr-allocations"
