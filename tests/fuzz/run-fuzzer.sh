#!/bin/bash
# Runs the decoder fuzzer for RBDFS_FUZZ_SECONDS (default 30) on a copy of
# the seed corpus. Fails when the fuzzer binary is missing or finds a crash.
set -euo pipefail
BIN=${RBDFS_FUZZ_BIN:-}
[ -n "$BIN" ] && [ -x "$BIN" ] || { echo "FAIL: RBDFS_FUZZ_BIN does not name the fuzzer (tools/check builds it)" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rbdfs-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cp "$RBDFS_SOURCE_DIR"/tests/fuzz/corpus/* "$WORK/"
"$BIN" -max_total_time="${RBDFS_FUZZ_SECONDS:-30}" -max_len=512 -artifact_prefix="$WORK/" \
  -print_final_stats=1 "$WORK" 2>&1 | tail -15
