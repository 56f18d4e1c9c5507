#!/bin/bash
# FUSE over io_uring (--io-uring), run by io_uring_run.sh, which turns the
# kernel's switch on (and restores it). With the switch off, --io-uring
# mounts over /dev/fuse and the log says why. With it on: one queue per
# possible CPU of the entries asked for, every request of a 4K random
# read/write run goes through the ring, the data is what `rbd export`
# reads, and the daemon exits once unmounted, its log clean.
. "$(dirname "$0")/lib.sh"
need_conf
scratch
param=/sys/module/fuse/parameters/enable_uring
[ -w "$param" ] || fail "$param is not writable: run this through io_uring_run.sh"
P=rbd
I=$(uniq uring)
rbd create --size 64M --image-feature layering "$P/$I" || fail "rbd create $P/$I"
CLEANUP+=("rbd rm $P/$I >/dev/null 2>&1")
fuse_xattr() { getfattr --absolute-names --only-values -n user.rbdfs.fuse "$1" 2>/dev/null || true; }
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

step "the kernel's switch off: --io-uring mounts over /dev/fuse, the log says why"
echo N >"$param"
CLEANUP+=("echo Y >$param")
M1=$TMP/m1
mkdir -p "$M1"
"$RBDFS" ceph "$M1" -c "$CEPH_CONF" --id admin -p "$P" --io-uring --log-file "$TMP/m1.log" ||
  fail "mount with --io-uring and the switch off"
CLEANUP+=("umount_rbdfs '$M1'")
how=$(fuse_xattr "$M1")
[[ $how == "transport=dev_fuse "* ]] || fail "switch off: user.rbdfs.fuse is '$how'"
head -c $((1 << 20)) /dev/urandom >"$TMP/d1"
dd if="$TMP/d1" of="$M1/$P/$I" bs=64K oflag=direct conv=notrunc,fsync status=none || fail "switch off: dd"
cmp <(head -c $((1 << 20)) "$M1/$P/$I") "$TMP/d1" || fail "switch off: read back differs"
contains -F "enable_uring set to Y); requests go by /dev/fuse" <"$TMP/m1.log" ||
  fail "switch off: the log does not say why: $(cat "$TMP/m1.log")"
umount_rbdfs "$M1"
echo Y >"$param"
echo "   $how"

step "the switch on: requests through the ring, one queue per possible CPU"
cpus=$(/usr/bin/python3 -c '
import sys
n = 0
for part in open("/sys/devices/system/cpu/possible").read().strip().split(","):
    a, _, b = part.partition("-")
    n = max(n, int(b or a) + 1)
print(n)')
M2=$TMP/m2
mkdir -p "$M2"
"$RBDFS" ceph "$M2" -c "$CEPH_CONF" --id admin -p "$P" --io-uring --io-uring-depth 4 \
  --log-file "$TMP/m2.log" || fail "mount with --io-uring"
CLEANUP+=("umount_rbdfs '$M2'")
pid=$(rbdfs_pid "$M2")
before=$(fuse_xattr "$M2")
[[ $before == "transport=io_uring "* ]] || fail "user.rbdfs.fuse is '$before'"
expect_eq "$(field "$before" queues)" "$cpus" "queues (possible CPUs)"
expect_eq "$(field "$before" entries)" 4 "entries per queue (--io-uring-depth 4)"
tmo 60 fio --name=r --filename="$M2/$P/$I" --rw=randrw --bs=4k --iodepth=32 --direct=1 \
  --ioengine=libaio --size=64M --runtime=3 --time_based --output-format=json >"$TMP/fio.json" ||
  fail "fio 4K random reads and writes at depth 32 through the ring"
ios=$(/usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; print(j["read"]["total_ios"] + j["write"]["total_ios"])' "$TMP/fio.json")
after=$(fuse_xattr "$M2")
through=$(($(field "$after" ring_requests) - $(field "$before" ring_requests)))
echo "   $ios requests from fio, $through through the ring ($after)"
[ "$through" -ge "$ios" ] || fail "only $through of fio's $ios requests went through the ring"
sync "$M2/$P/$I"
rbd_export "$P/$I" "$TMP/export"
cmp "$M2/$P/$I" "$TMP/export" || fail "the mount and rbd export differ after the run"

step "unmounted, the daemon exits and its log has no io_uring complaint"
umount_rbdfs "$M2"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "rbdfs did not exit within 10 s of its unmount"
contains -F "FUSE over io_uring: $cpus queue(s) of 4 entries" <"$TMP/m2.log" ||
  fail "the log does not say the ring is in use: $(cat "$TMP/m2.log")"
if grep -E "(warning|error):.*(io_uring|ring entr)" "$TMP/m2.log"; then
  fail "the log complains about the ring"
fi
pass "io_uring"
