#!/bin/bash
# asan_run.sh TEST.sh: runs a cluster test with the daemon and the exerciser
# of the sanitizer build (RBDFS_ASAN_BUILD_DIR: built with
# -DRBDFS_SANITIZE=address,undefined, as tools/check does), every report
# written to files (the daemon's stderr is gone once it daemonizes), and
# fails when any process left a report. Without that build: exit 77, which
# CTest shows as skipped.
set -euo pipefail
test_script=$1
shift
asan_build=${RBDFS_ASAN_BUILD_DIR:-}
if [ -z "$asan_build" ] || [ ! -x "$asan_build/fuse/rbdfs" ]; then
  echo "skipped: RBDFS_ASAN_BUILD_DIR does not hold a sanitizer build of rbdfs (tools/check makes one)"
  exit 77
fi
reports=$(mktemp -d "${TMPDIR:-/tmp}/rbdfs-asan-reports.XXXXXX")
# the test's scratch (and mounts) under a directory of its own, to find the
# daemons it started once it returns
scratch=$(mktemp -d "${TMPDIR:-/tmp}/rbdfs-asan-run.XXXXXX")
trap 'rm -rf "$reports" "$scratch"' EXIT
# leaks too: the daemon exits through its normal path once unmounted
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=0"
export LSAN_OPTIONS="suppressions=$(dirname "$0")/lsan.supp"
rc=0
TMPDIR=$scratch RBDFS_BUILD_DIR=$asan_build "$test_script" "$@" || rc=$?
# the daemons write their exit reports (leaks) after their unmount: wait
# for every one this test started to end (60 s at most)
daemons() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/exe" 2>/dev/null)" = "$asan_build/fuse/rbdfs" ] || continue
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$scratch/" && echo "${p#/proc/}"
  done
  return 0
}
for _ in $(seq 300); do [ -z "$(daemons)" ] && break; sleep 0.2; done
left=$(daemons)
if [ -n "$left" ]; then
  echo "FAIL [asan]: rbdfs still runs 60 s after $(basename "$test_script") ended (pids $left)"
  kill -9 $left 2>/dev/null
  exit 1
fi
found=0
for f in "$reports"/*; do
  [ -e "$f" ] || continue
  found=$((found + 1))
  echo "== sanitizer report $(basename "$f"):"
  head -80 "$f"
done
[ "$found" -eq 0 ] || { echo "FAIL [asan]: $found sanitizer report(s) under $(basename "$test_script")"; exit 1; }
[ "$rc" -eq 0 ] || exit "$rc"
echo "ok [asan]: $(basename "$test_script") under ASan/UBSan, no report"
