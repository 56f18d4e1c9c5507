#!/bin/bash
# The exclusive lock and the object map as librbd leaves them, read back by
# rbdfs's own decoders (cls lock get_info, object_map_load), against
# `rbd lock ls` and the objects librbd wrote: the groundwork of writing
# default-feature images (issue 11), checked on the real cluster.
. "$(dirname "$0")/lib.sh"
need_conf
scratch
P=rbd
tool() { "$BUILD/tools/rbdfs-tool" -c "$CEPH_CONF" "$@"; }
I=$(uniq proto)
rbd create --size 20M "$P/$I"   # Pacific defaults: exclusive-lock, object-map, fast-diff
CLEANUP+=("rbd snap purge $P/$I >/dev/null 2>&1; rbd rm $P/$I >/dev/null 2>&1")

step "nobody holds the lock of a fresh image; its object map is all nonexistent"
tool lock-info "$P/$I" > "$TMP/lock0"
contains -x "type: 0" < "$TMP/lock0" || fail "fresh image lock: $(cat "$TMP/lock0")"
contains "locker:" < "$TMP/lock0" && fail "a fresh image has a locker"
expect_eq "$(tool object-map "$P/$I")" "00000" "object map of a fresh 20 MiB image"

step "librbd holds the lock while it writes: rbdfs reads the same owner as rbd lock ls"
mkfifo "$TMP/go"
/usr/bin/python3 - "$CEPH_CONF" "$P" "$I" "$TMP/go" <<'PY' &
import rados, rbd, sys
c = rados.Rados(conffile=sys.argv[1]); c.connect(); io = c.open_ioctx(sys.argv[2])
with rbd.Image(io, sys.argv[3]) as img:
    img.write(b"x" * 4096, 0)
    img.write(b"y" * 4096, 3 * (4 << 20) + 100)
    open(sys.argv[4], "w").write("written\n")   # holds the lock until released below
    open(sys.argv[4]).read()
PY
py=$!
CLEANUP+=("kill $py 2>/dev/null")
read -r _ < "$TMP/go"
tool lock-info "$P/$I" > "$TMP/lock1"
rbd lock ls --format json "$P/$I" > "$TMP/lock1.json"
/usr/bin/python3 - "$TMP/lock1" "$TMP/lock1.json" <<'PY' || fail "lock owner differs from rbd lock ls"
import json, sys
mine = open(sys.argv[1]).read().split("\n")
theirs = json.load(open(sys.argv[2]))
assert "type: 1" in mine and "tag: internal" in mine, mine
lockers = [l for l in mine if l.startswith("locker:")]
assert len(lockers) == 1 and len(theirs) == 1, (lockers, theirs)
t = theirs[0]
want = "locker: %s cookie: %s address: %s" % (t["locker"], t["id"], t["address"].split(":", 1)[-1] if t["address"].startswith("v") else t["address"])
assert lockers[0] == want, (lockers[0], want)
assert t["id"].startswith("auto "), t
PY
expect_eq "$(tool object-map "$P/$I")" "10010" "head map after librbd wrote objects 0 and 3"
echo done > "$TMP/go"
wait "$py" || fail "the librbd writer failed"
tool lock-info "$P/$I" | contains "locker:" && fail "the lock outlived librbd's close"

step "a snapshot: the head map turns EXISTS into EXISTS_CLEAN, the snapshot's map keeps EXISTS"
rbd snap create "$P/$I@s1" >/dev/null 2>&1
expect_eq "$(tool object-map "$P/$I")" "30030" "head map after a snapshot"
expect_eq "$(tool object-map "$P/$I@s1")" "10010" "the snapshot's map"
rbd object-map check "$P/$I" >/dev/null 2>&1 || fail "rbd object-map check"
rbd info "$P/$I" | contains "invalid" && fail "object map flagged invalid: $(rbd info "$P/$I" | grep flags)"
step "with a valid object map, st_blocks and SEEK_DATA/SEEK_HOLE come from it (no stat per object)"
B=$(uniq bigmap)
rbd create --size 64G "$P/$B"
CLEANUP+=("rbd snap purge $P/$B >/dev/null 2>&1; rbd rm --no-progress $P/$B >/dev/null 2>&1")
/usr/bin/python3 - "$CEPH_CONF" "$P" "$B" <<'PY'
import rados, rbd, sys
c = rados.Rados(conffile=sys.argv[1]); c.connect(); io = c.open_ioctx(sys.argv[2])
with rbd.Image(io, sys.argv[3]) as img:
    img.write(b"a" * (4 << 20), 0)
    img.write(b"b" * 4096, (40 << 30) + 8192)
PY
rbd snap create "$P/$B@s" >/dev/null 2>&1
/usr/bin/python3 - "$CEPH_CONF" "$P" "$B" <<'PY'
import rados, rbd, sys
c = rados.Rados(conffile=sys.argv[1]); c.connect(); io = c.open_ioctx(sys.argv[2])
with rbd.Image(io, sys.argv[3]) as img:
    img.write(b"c" * 4096, 20 << 30)   # after the snapshot: head only
PY
M=$TMP/mnt
# rbdfs' own read ops, from its admin socket (the OSDs' counters also count
# whatever the tests running beside this one read)
cp "$CEPH_CONF" "$TMP/ceph.conf"
printf '\n[client.admin]\n\tadmin socket = %s\n' "$TMP/rbdfs.asok" >>"$TMP/ceph.conf"
CEPH_CONF=$TMP/ceph.conf mount_rbdfs "$M" -p "$P"
osd_reads() {
  ceph --admin-daemon "$TMP/rbdfs.asok" perf dump |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["objecter"]["op_r"])'
}
before=$(osd_reads)
expect_eq "$(stat -c %b "$M/$P/$B")" $((3 * 8192)) "st_blocks of three objects (the map counts whole objects)"
expect_eq "$(stat -c %b "$M/$P/.snap/$B/s")" $((2 * 8192)) "st_blocks of the snapshot, from its own map"
/usr/bin/python3 - "$M/$P/$B" "$M/$P/.snap/$B/s" <<'PY' || fail "lseek from the object map"
import os, sys
G, M = 1 << 30, 1 << 20
fd = os.open(sys.argv[1], os.O_RDONLY)
assert os.lseek(fd, 0, os.SEEK_HOLE) == 4 * M
assert os.lseek(fd, 4 * M, os.SEEK_DATA) == 20 * G
assert os.lseek(fd, 20 * G + 1, os.SEEK_HOLE) == 20 * G + 4 * M
assert os.lseek(fd, 20 * G + 4 * M, os.SEEK_DATA) == 40 * G
try:
    os.lseek(fd, 41 * G, os.SEEK_DATA)
    raise AssertionError("SEEK_DATA past the last data succeeded")
except OSError as e:
    assert e.errno == 6, e
s = os.open(sys.argv[2], os.O_RDONLY)
assert os.lseek(s, 4 * M, os.SEEK_DATA) == 40 * G    # the snapshot has no data at 20 GiB
PY
after=$(osd_reads)
# 16,384 objects: a stat per object would be thousands of reads
[ $((after - before)) -lt 2000 ] || fail "st_blocks and lseek read $((after - before)) objects"
echo "   OSD reads for 2 st_blocks and 6 lseeks on a 64 GiB image: $((after - before))"
pass "protocol"
