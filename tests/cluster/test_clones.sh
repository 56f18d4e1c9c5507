#!/bin/bash
# Clones (issue 12): reads through to the parent, by image extents, with
# different layouts on each level, three levels deep, v1 (protected) and
# v2 clones, snapshots of clones with their own overlap, and a child
# resized smaller then larger; every read through the mount equals `rbd
# export` of the same image (librbd, the oracle).
. "$(dirname "$0")/lib.sh"
need_conf
scratch
M=$TMP/mnt
P=rbd
A=$(uniq cl-a)  # 4 MiB objects, plain
B=$(uniq cl-b)  # clone of A@s: 1 MiB objects, 64K x 4 striping (v2)
C=$(uniq cl-c)  # clone of B@s: 2 MiB objects (v1: protected parent)
D=$(uniq cl-d)  # clone of A@s: default features (v2)
CLEANUP+=("for cl_img in $D $C - $B $A; do [ \$cl_img = - ] && rbd snap unprotect $P/$B@s >/dev/null 2>&1; rbd snap purge $P/\$cl_img >/dev/null 2>&1; rbd rm $P/\$cl_img >/dev/null 2>&1; done")
rbd create --size 10M --image-feature layering "$P/$A"
/usr/bin/python3 - "$CEPH_CONF" "$P" "$A" <<'PY'
import random, sys, rados, rbd
conf, pool, name = sys.argv[1:]
with rados.Rados(conffile=conf) as c, c.open_ioctx(pool) as io, rbd.Image(io, name) as img:
    rnd = random.Random(7)
    # data in some objects, holes in others, an object only partly written
    for off, n in ((0, 5000), (1 << 20, 3 << 20), (5 << 20, 4096), (7 << 20, 1 << 20), ((10 << 20) - 777, 777)):
        img.write(bytes(rnd.getrandbits(8) for _ in range(n)) if n < 65536 else rnd.randbytes(n), off)
PY
rbd snap create "$P/$A@s" >/dev/null
rbd clone --rbd-default-clone-format 2 --image-feature layering,striping --object-size 1M \
  --stripe-unit 65536 --stripe-count 4 "$P/$A@s" "$P/$B" >/dev/null
# B's own data over part of A's
/usr/bin/python3 -c '
import sys, rados, rbd
with rados.Rados(conffile=sys.argv[1]) as c, c.open_ioctx(sys.argv[2]) as io, rbd.Image(io, sys.argv[3]) as img:
    img.write(b"B" * 300000, 3 << 20)
    img.write(b"b" * 70000, (9 << 20) + 1000)
' "$CEPH_CONF" "$P" "$B"
rbd snap create "$P/$B@s" >/dev/null
rbd snap protect "$P/$B@s"
rbd clone --rbd-default-clone-format 1 --image-feature layering --object-size 2M "$P/$B@s" "$P/$C" >/dev/null
rbd clone --rbd-default-clone-format 2 "$P/$A@s" "$P/$D" >/dev/null
/usr/bin/python3 -c '
import sys, rados, rbd
with rados.Rados(conffile=sys.argv[1]) as c, c.open_ioctx(sys.argv[2]) as io, rbd.Image(io, sys.argv[3]) as img:
    img.write(b"C" * 5000, (2 << 20) - 2500)
' "$CEPH_CONF" "$P" "$C"
mount_rbdfs "$M"

same_as_rbd() {  # <image[@snap]> <file>
  rbd_export "$P/$1" "$TMP/x.rbd"
  expect_eq "$(stat -c %s "$2")" "$(stat -c %s "$TMP/x.rbd")" "size of $1"
  cmp "$2" "$TMP/x.rbd" || fail "$1 through the mount differs from rbd export"
  # and in odd-sized pieces, across object and stripe-unit edges
  /usr/bin/python3 - "$2" "$TMP/x.rbd" <<'PY' || fail "$1: piecewise reads differ"
import random, sys
a, b = open(sys.argv[1], "rb"), open(sys.argv[2], "rb")
size = b.seek(0, 2); rnd = random.Random(3)
for _ in range(200):
    off = rnd.randrange(size); n = rnd.choice((1, 511, 4096, 65537, 1 << 20))
    a.seek(off); b.seek(off)
    if a.read(n) != b.read(n): sys.exit("differ at %d+%d" % (off, n))
PY
}

step "a clone reads through to its parent (v2, 1M objects striped 64K x 4, parent 4M plain)"
same_as_rbd "$B" "$M/$P/$B"
step "three levels (v1 clone of a v2 clone, 2M objects)"
same_as_rbd "$C" "$M/$P/$C"
step "a default-features clone (object map: absent objects read through)"
same_as_rbd "$D" "$M/$P/$D"

step "snapshots of a clone read with the overlap at the snapshot"
rbd snap create "$P/$C@before" >/dev/null
rbd resize --no-progress --allow-shrink --size 3M "$P/$C"
rbd snap create "$P/$C@small" >/dev/null
rbd resize --no-progress --size 12M "$P/$C"
sleep 1.2
same_as_rbd "$C@before" "$M/$P/.snap/$C/before"
same_as_rbd "$C@small" "$M/$P/.snap/$C/small"
step "a child shrunk then grown reads zeros past the shrink, not the parent"
same_as_rbd "$C" "$M/$P/$C"
expect_eq "$(rbd info --format json "$P/$C" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["parent"]["overlap"])')" 3145728 "overlap after the shrink"

step "SEEK_HOLE never reports the parent's data as a hole: cp --sparse=always keeps it"
rbd_export "$P/$D" "$TMP/d.rbd"
cp --sparse=always "$M/$P/$D" "$TMP/d.cp" && cmp "$TMP/d.cp" "$TMP/d.rbd" || fail "sparse cp of a clone lost data"
/usr/bin/python3 - "$M/$P/$D" <<'PY' || fail "SEEK_DATA/SEEK_HOLE on a clone"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY); size = os.fstat(fd).st_size
assert os.lseek(fd, 0, os.SEEK_DATA) == 0
assert os.lseek(fd, 4096, os.SEEK_HOLE) == size, os.lseek(fd, 4096, os.SEEK_HOLE)  # overlap = size
PY

step "clones are readable but not yet writable (copy-up to come)"
expect_fail "Read-only file system" dd if=/dev/zero of="$M/$P/$B" bs=4096 count=1 conv=notrunc status=none
same_as_rbd "$B" "$M/$P/$B"
pass "clones read through the mount equal rbd export"
