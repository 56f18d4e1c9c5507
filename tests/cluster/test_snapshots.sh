#!/bin/bash
# The .snap tree against rbd: snapshots taken by rbd between writes and a
# resize, snapshots taken with touch, rename/unlink, protection, read-only
# snapshot files, cp/dd/qemu-img of a snapshot, and a snapshot taken by rbd
# while the mount has the image open for writing.
. "$(dirname "$0")/lib.sh"
need_conf
scratch
M=$TMP/mnt
P=rbd
I=$(uniq snapimg)
rbd create --size 6M --image-feature layering "$P/$I"
CLEANUP+=("rbd snap unprotect $P/$I@prot >/dev/null 2>&1; rbd snap purge $P/$I >/dev/null 2>&1; rbd rm $P/$I >/dev/null 2>&1")
mount_rbdfs "$M"
F=$M/$P/$I
S=$M/$P/.snap/$I

step "snapshots by rbd between writes and a resize: bytes and sizes"
head -c 6291456 /dev/urandom | rbd import --no-progress - "$P/$I.tmp" >/dev/null 2>&1 || true
rbd rm "$P/$I.tmp" >/dev/null 2>&1 || true
dd if=/dev/urandom of="$F" bs=1M count=6 conv=notrunc,fsync status=none
rbd snap create "$P/$I@one" >/dev/null 2>&1
dd if=/dev/urandom of="$F" bs=4096 count=10 seek=100 conv=notrunc,fsync status=none
rbd resize --no-progress --size 10M "$P/$I"
dd if=/dev/urandom of="$F" bs=1M count=1 seek=9 conv=notrunc,fsync status=none
rbd snap create "$P/$I@two" >/dev/null 2>&1
rbd resize --no-progress --allow-shrink --size 3M "$P/$I"
rbd snap create "$P/$I@three" >/dev/null 2>&1
sleep 1.2
expect_eq "$(ls "$S" | LC_ALL=C sort | tr '\n' ' ')" "one three two " "snapshot listing"
for s in one two three; do
  rbd_export "$P/$I@$s" "$TMP/$s.rbd"
  expect_eq "$(stat -c %s "$S/$s")" "$(stat -c %s "$TMP/$s.rbd")" "size of snapshot $s"
  cmp "$S/$s" "$TMP/$s.rbd" || fail "bytes of snapshot $s differ from rbd export"
done
expect_eq "$(stat -c %s "$S/one")" 6291456 "size at snapshot one"
expect_eq "$(stat -c %s "$S/two")" 10485760 "size at snapshot two"
expect_eq "$(stat -c %s "$S/three")" 3145728 "size at snapshot three"

step "cp, dd and qemu-img convert of a snapshot give its bytes"
cp "$S/two" "$TMP/two.cp" && cmp "$TMP/two.cp" "$TMP/two.rbd" || fail "cp of a snapshot differs"
dd if="$S/two" of="$TMP/two.dd" bs=1M status=none && cmp "$TMP/two.dd" "$TMP/two.rbd" || fail "dd of a snapshot differs"
qemu-img convert -f raw -O raw "$S/two" "$TMP/two.qemu" && cmp "$TMP/two.qemu" "$TMP/two.rbd" ||
  fail "qemu-img convert of a snapshot differs"

step "snapshot files are read-only and unchanged by attempts"
expect_fail "Read-only file system" dd if=/dev/zero of="$S/one" bs=512 count=1 conv=notrunc status=none
expect_fail "Read-only file system" truncate -s 0 "$S/one"
cmp "$S/one" "$TMP/one.rbd" || fail "snapshot changed"
[ "$(stat -c %a "$S/one")" = 444 ] || fail "snapshot mode is $(stat -c %a "$S/one")"

step "mtime and xattrs"
ts=$(rbd snap ls --format json "$P/$I" | /usr/bin/python3 -c '
import json, sys, datetime
for s in json.load(sys.stdin):
    if s["name"] == "two":
        print(int(datetime.datetime.strptime(s["timestamp"], "%a %b %d %H:%M:%S %Y").timestamp()))')
expect_eq "$(stat -c %Y "$S/two")" "$ts" "mtime of snapshot two"
sid=$(rbd snap ls --format json "$P/$I" | /usr/bin/python3 -c 'import json,sys; print([s["id"] for s in json.load(sys.stdin) if s["name"]=="two"][0])')
expect_eq "$(getfattr --absolute-names --only-values -n user.rbd.snap_id "$S/two")" "$sid" "user.rbd.snap_id"
expect_eq "$(getfattr --absolute-names --only-values -n user.rbd.protected "$S/two")" "false" "user.rbd.protected"

step "touch .snap/img/s after writes through the mount; later writes leave it alone"
dd if=/dev/urandom of="$F" bs=4096 count=64 seek=10 conv=notrunc status=none
cp "$F" "$TMP/before-touch"
touch "$S/mine" || fail "touch to create a snapshot failed"
rbd snap ls "$P/$I" | contains " mine " || fail "rbd snap ls does not show the touched snapshot"
rbd_export "$P/$I@mine" "$TMP/mine.rbd"
cmp "$TMP/mine.rbd" "$TMP/before-touch" || fail "rbd export of the touched snapshot differs from what was written"
dd if=/dev/urandom of="$F" bs=4096 count=64 seek=10 conv=notrunc,fsync status=none
rbd_export "$P/$I@mine" "$TMP/mine2.rbd"
cmp "$TMP/mine2.rbd" "$TMP/before-touch" || fail "a later write changed the snapshot"
cmp "$S/mine" "$TMP/before-touch" || fail "the snapshot file changed after a later write"
expect_fail "File exists" /usr/bin/python3 -c 'import os,sys; os.open(sys.argv[1], os.O_CREAT|os.O_EXCL|os.O_WRONLY)' "$S/mine"

step "a snapshot taken by rbd while the mount writes through an open fd"
exec 3<>"$F"
dd if=/dev/urandom bs=4096 count=4 status=none >&3
cp "$F" "$TMP/before-ext"
rbd snap create "$P/$I@ext" >/dev/null 2>&1
# more writes through the same open file: they must not reach the snapshot
# (the same fd: reopening would refresh the header and hide a stale context)
dd if=/dev/urandom bs=4096 count=16 seek=2 conv=notrunc status=none >&3
exec 3>&-
rbd_export "$P/$I@ext" "$TMP/ext.rbd"
cmp "$TMP/ext.rbd" "$TMP/before-ext" || fail "writes after rbd snap create reached the snapshot (stale snap context)"

step "rename and unlink are what rbd snap ls shows; protected survives"
mv "$S/mine" "$S/mine-renamed" || fail "snapshot rename failed"
rbd snap ls "$P/$I" | contains " mine-renamed " || fail "rename not in rbd snap ls"
rbd snap ls "$P/$I" | contains " mine " && fail "old snapshot name still in rbd snap ls"
rm "$S/mine-renamed" || fail "snapshot unlink failed"
rbd snap ls "$P/$I" | contains "mine-renamed" && fail "unlinked snapshot still in rbd snap ls"
rbd snap create "$P/$I@prot" >/dev/null 2>&1
rbd snap protect "$P/$I@prot"
sleep 1.2
expect_eq "$(getfattr --absolute-names --only-values -n user.rbd.protected "$S/prot")" "true" "user.rbd.protected"
expect_fail "Device or resource busy" rm "$S/prot"
rbd snap ls "$P/$I" | contains " prot " || fail "a protected snapshot was removed"
expect_fail "Invalid cross-device link" /usr/bin/python3 -c 'import os,sys; os.rename(sys.argv[1], sys.argv[2])' "$S/prot" "$M/$P/prot"

step "snapshots made and removed by rbd appear and vanish"
rbd snap create "$P/$I@late" >/dev/null 2>&1
sleep 1.2
[ -f "$S/late" ] || fail "a snapshot made by rbd does not appear"
rbd snap rm --no-progress "$P/$I@late" >/dev/null 2>&1
sleep 1.2
[ -e "$S/late" ] && fail "a snapshot removed by rbd is still there"
pass "snapshots"
