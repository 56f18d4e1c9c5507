# Shared helpers for the shell tests. Source it; it sets -euo pipefail.
set -euo pipefail
SRC=${RBDFS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${RBDFS_BUILD_DIR:-$SRC/build/check}
TEST_NAME=$(basename "$0" .sh)

fail() { echo "FAIL [$TEST_NAME]: $*" >&2; exit 1; }
pass() { echo "ok [$TEST_NAME]: $*"; }
step() { echo "-- $*"; }

need_conf() {
  if [ -z "${RBDFS_TEST_CONF:-}" ] || [ ! -f "$RBDFS_TEST_CONF" ]; then
    fail "RBDFS_TEST_CONF is not set to a ceph.conf: run tools/check, or tools/ceph-cluster start and export it"
  fi
  export CEPH_CONF=$RBDFS_TEST_CONF
}

# a scratch directory removed at exit
scratch() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/rbdfs-$TEST_NAME.XXXXXX")
  CLEANUP+=("rm -rf '$TMP'")
}

CLEANUP=()
run_cleanup() {
  local i
  for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do eval "${CLEANUP[$i]}" || true; done
}
trap run_cleanup EXIT

# unique names per run so reruns on one cluster never collide
uniq() { echo "$1-$$-$RANDOM"; }

# expect_eq A B MSG
expect_eq() { [ "$1" == "$2" ] || fail "$3: expected '$2', got '$1'"; }

# rbd export that overwrites its target
rbd_export() { rm -f "$2"; rbd export --no-progress "$1" "$2" >/dev/null; }

# `cmd | contains [grep options] PATTERN`: like grep -q, but reads all of its
# input, so the writer never dies of SIGPIPE under pipefail.
contains() { local input; input=$(cat); grep -q "$@" <<<"$input"; }
