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

# timing: now, seconds since T (one decimal), a command bounded in time
now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }
tmo() { timeout -k 5 "$@"; }

# new_rbd_pool NAME: a pool of 8 PGs with the rbd application, removed at exit
new_rbd_pool() {
  ceph osd pool create "$1" 8 8 >/dev/null 2>&1 || fail "ceph osd pool create $1"
  CLEANUP+=("ceph --connect-timeout 10 osd pool rm $1 $1 --yes-i-really-really-mean-it >/dev/null 2>&1")
  rbd pool init "$1" || fail "rbd pool init $1"
}

# blocklist_add ADDR: blocklist a client and wait until every up OSD has the
# map that says so (the monitor answers on commit; an OSD still on the older
# map would go on taking the client's writes for a moment)
blocklist_add() {
  ceph osd blocklist add "$1" >/dev/null 2>&1 || fail "ceph osd blocklist add $1"
  local epoch osd t0; epoch=$(ceph osd dump -f json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["epoch"])')
  t0=$(now)
  for osd in $(ceph osd ls -f json | /usr/bin/python3 -c 'import json,sys; print(" ".join(map(str, json.load(sys.stdin))))'); do
    ceph osd dump -f json | /usr/bin/python3 -c 'import json,sys; sys.exit(0 if [o for o in json.load(sys.stdin)["osds"] if o["osd"] == '"$osd"' and o["up"]] else 1)' || continue
    until [ "$(tmo 20 ceph tell "osd.$osd" status 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["newest_map"])' 2>/dev/null)" -ge "$epoch" ] 2>/dev/null; do
      [ "$(echo "$(now) - $t0 > 60" | bc)" = 1 ] && fail "osd.$osd did not reach osdmap epoch $epoch (blocklist of $1) within 60 s"
      sleep 0.2
    done
  done
}

# rbd export that overwrites its target
rbd_export() { rm -f "$2"; rbd export --no-progress "$1" "$2" >/dev/null; }

# `cmd | contains [grep options] PATTERN`: like grep -q, but reads all of its
# input, so the writer never dies of SIGPIPE under pipefail.
contains() { local input; input=$(cat); grep -q "$@" <<<"$input"; }

RBDFS=$BUILD/fuse/rbdfs
# mount_rbdfs MNT [rbdfs options...]: mounts the test cluster, unmounted at exit
mount_rbdfs() {
  local mnt=$1; shift
  mkdir -p "$mnt"
  # RBDFS_MOUNT_EXTRA: options for every mount of the test (io_uring_run.sh)
  # shellcheck disable=SC2086
  "$RBDFS" ceph "$mnt" -c "$CEPH_CONF" --id admin "$@" ${RBDFS_MOUNT_EXTRA:-} || fail "rbdfs failed to mount $mnt"
  CLEANUP+=("umount_rbdfs '$mnt'")
  mountpoint -q "$mnt" || fail "$mnt is not a mountpoint after rbdfs returned"
  # RBDFS_EXPECT_TRANSPORT: how the mount must take its requests (this
  # getxattr is one of them)
  # (io_uring: set once a request has come through the ring)
  if [ -n "${RBDFS_EXPECT_TRANSPORT:-}" ]; then
    local t
    t=$(getfattr --absolute-names --only-values -n user.rbdfs.fuse "$mnt" 2>&1) || true
    [[ $t == "transport=$RBDFS_EXPECT_TRANSPORT "* ]] ||
      fail "$mnt: user.rbdfs.fuse is '$t', expected transport=$RBDFS_EXPECT_TRANSPORT"
  fi
}
umount_rbdfs() {
  local mnt=$1
  # /proc/mounts, not mountpoint(1): a dead FUSE mount fails its stat
  awk -v m="$mnt" '$2 == m { f = 1 } END { exit !f }' /proc/mounts || return 0
  fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null || true
}
# rbdfs daemon pid for a mountpoint
rbdfs_pid() { pgrep -f -- "$RBDFS ceph $1 " | head -1; }
image_size() { rbd info --format json "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])'; }
# expect_errno CMD...: runs CMD, expects failure whose stderr contains the text in $ERRTEXT
expect_fail() {
  local want=$1; shift
  local out
  if out=$("$@" 2>&1); then fail "expected '$*' to fail with '$want', it succeeded"; fi
  grep -q -- "$want" <<<"$out" || fail "'$*': expected '$want', got: $out"
}
