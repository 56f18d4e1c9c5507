#!/bin/bash
# Clones (issue 12): reads through to the parent, by image extents, with
# different layouts on each level, three levels deep, v1 (protected) and
# v2 clones, snapshots of clones with their own overlap, and a child
# resized smaller then larger; every read through the mount equals `rbd
# export` of the same image (librbd, the oracle). Writes and punches copy
# up, on clones with and without their own snapshots and an object map:
# `rbd export` of the child and its snapshots equal a model, the parents
# stay unchanged, `rbd object-map check` stays clean.
. "$(dirname "$0")/lib.sh"
need_conf
scratch
M=$TMP/mnt
P=rbd
A=$(uniq cl-a)  # 4 MiB objects, plain
B=$(uniq cl-b)  # clone of A@s: 1 MiB objects, 64K x 4 striping (v2)
C=$(uniq cl-c)  # clone of B@s: 2 MiB objects (v1: protected parent)
D=$(uniq cl-d)  # clone of A@s: default features (v2; a clone's features are its parent's unless given)
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
rbd clone --rbd-default-clone-format 2 --image-feature layering,exclusive-lock,object-map,fast-diff,deep-flatten "$P/$A@s" "$P/$D" >/dev/null
/usr/bin/python3 -c '
import sys, rados, rbd
with rados.Rados(conffile=sys.argv[1]) as c, c.open_ioctx(sys.argv[2]) as io, rbd.Image(io, sys.argv[3]) as img:
    img.write(b"C" * 5000, (2 << 20) - 2500)
' "$CEPH_CONF" "$P" "$C"
P2=$(uniq clpool)  # clones across pools
ceph osd pool create "$P2" 8 >/dev/null 2>&1
rbd pool init "$P2"
CLEANUP+=("ceph osd pool rm $P2 $P2 --yes-i-really-really-mean-it >/dev/null 2>&1")
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

objmap_clean() {  # <spec>: rbd object-map check finds nothing, no flag says invalid
  local out
  out=$(rbd object-map check --no-progress "$P/$1" 2>&1) || fail "rbd object-map check $1: $out"
  ! grep -qiE "error|invalid|marked as|should be" <<<"$out" || fail "rbd object-map check $1: $out"
  ! rbd info "$P/$1" | grep -qi "flags:.*invalid" || fail "$1: $(rbd info "$P/$1" | grep flags)"
}

# writes at object and stripe-unit edges, inside and past the overlap,
# punched holes, snapshots taken by rbd in between: after each round `rbd
# export` of the child and of every snapshot taken equal the model
write_rounds() {  # <image> <object size> <seed>
  /usr/bin/python3 - "$CEPH_CONF" "$P" "$1" "$M/$P/$1" "$2" "$3" <<'PY' || fail "writes to clone $1"
import os, random, subprocess, sys
conf, pool, name, path, osz, seed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
rnd = random.Random(seed)
def export(spec):
    return subprocess.run(["rbd", "-c", conf, "export", "--no-progress", spec, "-"], check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
model = bytearray(export(pool + "/" + name))
size = len(model)
snaps = {}
fd = os.open(path, os.O_RDWR)
for rnd_no in range(4):
    for _ in range(12):
        edge = rnd.randrange(1, size // osz) * osz
        off = max(0, min(size - 1, edge + rnd.randrange(-6000, 6000)))
        n = min(size - off, rnd.choice((1, 512, 4096, 9000, osz // 2, osz + 123)))
        if rnd.random() < 0.2:
            r = subprocess.run(["fallocate", "-p", "-o", str(off), "-l", str(n), path])
            if r.returncode: sys.exit("punch %d+%d failed" % (off, n))
            model[off:off + n] = bytes(n)
        else:
            data = rnd.randbytes(n)
            os.pwrite(fd, data, off)
            model[off:off + n] = data
    os.fsync(fd)
    got = export(pool + "/" + name)
    if got != model:
        bad = next(i for i in range(size) if got[i] != model[i])
        sys.exit("round %d: rbd export differs from the model at %d" % (rnd_no, bad))
    if os.pread(fd, size, 0) != model:
        sys.exit("round %d: the mount reads back something else" % rnd_no)
    if rnd_no < 2:  # the child's own snapshots: later copy-ups are deep
        sn = "w%d" % rnd_no
        subprocess.run(["rbd", "-c", conf, "snap", "create", "%s/%s@%s" % (pool, name, sn)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        snaps[sn] = bytes(model)
for sn, want in snaps.items():
    if export("%s/%s@%s" % (pool, name, sn)) != want:
        sys.exit("snapshot %s of the clone changed" % sn)
PY
}

step "writes to a v2 clone (4M objects under a striped parent's child), grown past the overlap"
E=$(uniq cl-e)
F=$(uniq cl-f)
CLEANUP+=("for cl_img in $E $F; do rbd snap purge $P/\$cl_img >/dev/null 2>&1; rbd rm $P/\$cl_img >/dev/null 2>&1; done")
rbd_export "$A@s" "$TMP/a-s.before"
rbd_export "$B@s" "$TMP/b-s.before"
rbd clone --rbd-default-clone-format 2 --image-feature layering "$P/$B@s" "$P/$E" >/dev/null
rbd resize --no-progress --size 14M "$P/$E"
write_rounds "$E" $((4 << 20)) 1
step "writes to a default-features clone (object map, fast-diff) with 1M objects striped 256K x 2"
rbd clone --rbd-default-clone-format 2 --object-size 1M --stripe-unit 262144 --stripe-count 2 \
  --image-feature layering,exclusive-lock,object-map,fast-diff,deep-flatten "$P/$A@s" "$P/$F" >/dev/null
write_rounds "$F" $((1 << 20)) 2
objmap_clean "$F"
for s in w0 w1; do objmap_clean "$F@$s"; done
step "the parents' snapshots are unchanged"
rbd_export "$A@s" "$TMP/a-s.after" && cmp "$TMP/a-s.before" "$TMP/a-s.after" || fail "parent A@s changed"
rbd_export "$B@s" "$TMP/b-s.after" && cmp "$TMP/b-s.before" "$TMP/b-s.after" || fail "parent B@s changed"

step "a whole-object punch inside the overlap reads zeros, in the mount and in rbd export"
G=$(uniq cl-g)
CLEANUP+=("rbd rm $P/$G >/dev/null 2>&1")
rbd clone --rbd-default-clone-format 2 --image-feature layering,exclusive-lock,object-map,fast-diff,deep-flatten "$P/$A@s" "$P/$G" >/dev/null
fallocate -p -o $((4 << 20)) -l $((4 << 20)) "$M/$P/$G"
fallocate -p -o 100 -l 5000 "$M/$P/$G"
rbd_export "$A@s" "$TMP/g.model"
/usr/bin/python3 -c '
import sys
f = open(sys.argv[1], "r+b")
for off, n in ((4 << 20, 4 << 20), (100, 5000)):
    f.seek(off); f.write(bytes(n))' "$TMP/g.model"
cmp "$M/$P/$G" "$TMP/g.model" || fail "punched clone reads back wrong through the mount"
rbd_export "$G" "$TMP/g.rbd" && cmp "$TMP/g.rbd" "$TMP/g.model" || fail "punched clone: rbd export differs"
objmap_clean "$G"
step "shrinking a clone that has snapshots keeps the snapshots' data (copied up first, as librbd does)"
H=$(uniq cl-h)
CLEANUP+=("rbd snap purge $P/$H >/dev/null 2>&1; rbd rm $P/$H >/dev/null 2>&1")
rbd clone --rbd-default-clone-format 2 --image-feature layering,exclusive-lock,object-map,fast-diff,deep-flatten \
  "$P/$A@s" "$P/$H" >/dev/null
rbd snap create "$P/$H@s1" >/dev/null 2>&1
rbd_export "$H@s1" "$TMP/h-s1.before"
truncate -s $((6 << 20)) "$M/$P/$H"  # object 1 ([4M, 8M)) absent, cut in the middle
dd if=/dev/urandom of="$M/$P/$H" bs=4096 count=1 seek=1024 conv=notrunc,fsync status=none
truncate -s $((12 << 20)) "$M/$P/$H"
dd if=/dev/urandom of="$M/$P/$H" bs=4096 count=1 seek=$((9 << 8)) conv=notrunc,fsync status=none
rbd_export "$H@s1" "$TMP/h-s1.after"
cmp "$TMP/h-s1.before" "$TMP/h-s1.after" || fail "the clone's snapshot changed when the clone was shrunk"
cmp -n $((4 << 20)) "$TMP/h-s1.before" "$M/$P/$H" || fail "the shrunk clone lost data"
cmp -i $(((4 << 20) + 4096)) -n $(((2 << 20) - 4096)) "$TMP/h-s1.before" "$M/$P/$H" ||
  fail "the shrunk clone lost data next to the write"
cmp -i $((6 << 20)) -n $((3 << 20)) /dev/zero "$M/$P/$H" || fail "past the shrink the clone reads the parent"
objmap_clean "$H"
objmap_clean "$H@s1"
step "user.rbd.parent and user.rbd.overlap, on clones and their snapshots"
expect_eq "$(getfattr --absolute-names --only-values -n user.rbd.parent "$M/$P/$C")" "$P/$B@s" "user.rbd.parent of C"
expect_eq "$(getfattr --absolute-names --only-values -n user.rbd.overlap "$M/$P/$C")" 3145728 "user.rbd.overlap of C"
expect_eq "$(getfattr --absolute-names --only-values -n user.rbd.overlap "$M/$P/.snap/$C/before")" $((10 << 20)) "user.rbd.overlap of C@before"
expect_eq "$(getfattr --absolute-names --only-values -n user.rbd.parent "$M/$P/$A")" "" "user.rbd.parent of a non-clone"

step "rbd flatten from outside while the clone is open in the mount keeps its contents"
K=$(uniq cl-k)
CLEANUP+=("rbd snap purge $P/$K >/dev/null 2>&1; rbd rm $P/$K >/dev/null 2>&1")
rbd clone --rbd-default-clone-format 2 --image-feature layering,exclusive-lock,object-map,fast-diff,deep-flatten \
  "$P/$A@s" "$P/$K" >/dev/null
exec 7<>"$M/$P/$K"
dd if=/dev/urandom of="$M/$P/$K" bs=4096 count=2 seek=300 conv=notrunc,fsync status=none  # rbdfs owns the lock
rbd_export "$K" "$TMP/k.before"
rbd flatten --no-progress "$P/$K" || fail "rbd flatten while rbdfs holds the clone"
rbd info "$P/$K" | grep -q "parent:" && fail "rbd flatten left a parent"
cmp "$M/$P/$K" "$TMP/k.before" || fail "the flattened clone reads differently through the mount"
dd if=/dev/urandom of="$M/$P/$K" bs=4096 count=1 seek=1500 conv=notrunc,fsync status=none
exec 7>&-
rbd_export "$K" "$TMP/k.rbd" && cmp "$M/$P/$K" "$TMP/k.rbd" || fail "after flatten: mount and rbd export differ"
objmap_clean "$K"

step "setfattr user.rbdfs.flatten flattens a clone as rbd flatten does (snapshots keep their data)"
K2=$(uniq cl-k2)
CLEANUP+=("rbd snap purge $P/$K2 >/dev/null 2>&1; rbd rm $P/$K2 >/dev/null 2>&1")
rbd clone --rbd-default-clone-format 2 --object-size 1M --stripe-unit 262144 --stripe-count 2 \
  --image-feature layering,exclusive-lock,object-map,fast-diff,deep-flatten "$P/$A@s" "$P/$K2" >/dev/null
dd if=/dev/urandom of="$M/$P/$K2" bs=4096 count=3 seek=700 conv=notrunc,fsync status=none
rbd snap create "$P/$K2@s1" >/dev/null 2>&1
rbd_export "$K2@s1" "$TMP/k2-s1.before"
rbd_export "$K2" "$TMP/k2.before"
setfattr -n user.rbdfs.flatten -v 1 "$M/$P/$K2" || fail "setfattr user.rbdfs.flatten"
rbd info "$P/$K2" | grep -q "parent:" && fail "flatten left a parent: $(rbd info "$P/$K2" | grep parent)"
! rbd children "$P/$A@s" | grep -qx "$P/$K2" || fail "the flattened clone is still the parent's child"
rbd_export "$K2" "$TMP/k2.after" && cmp "$TMP/k2.before" "$TMP/k2.after" || fail "flatten changed the clone"
rbd_export "$K2@s1" "$TMP/k2-s1.after" && cmp "$TMP/k2-s1.before" "$TMP/k2-s1.after" || fail "flatten changed its snapshot"
cmp "$M/$P/$K2" "$TMP/k2.before" || fail "the flattened clone reads differently through the mount"
expect_eq "$(getfattr --absolute-names --only-values -n user.rbd.parent "$M/$P/$K2")" "" "user.rbd.parent after flatten"
objmap_clean "$K2"
objmap_clean "$K2@s1"
expect_fail "Invalid argument" setfattr -n user.rbdfs.flatten -v 1 "$M/$P/$A"
expect_fail "Operation not permitted" setfattr -n user.rbd.parent -v x "$M/$P/$K2"

step "a clone flattened without deep-flatten stays its parent's child while a snapshot uses it; removing that snapshot ends it"
N=$(uniq cl-n)
CLEANUP+=("rbd snap purge $P/$N >/dev/null 2>&1; rbd rm $P/$N >/dev/null 2>&1")
rbd clone --rbd-default-clone-format 2 --image-feature layering "$P/$A@s" "$P/$N" >/dev/null
dd if=/dev/urandom of="$M/$P/$N" bs=4096 count=1 seek=5 conv=notrunc,fsync status=none
rbd snap create "$P/$N@s1" >/dev/null 2>&1
rbd_export "$N@s1" "$TMP/n-s1.before"
setfattr -n user.rbdfs.flatten -v 1 "$M/$P/$N" || fail "flatten without deep-flatten"
expect_fail "Invalid argument" setfattr -n user.rbdfs.flatten -v 1 "$M/$P/$N"
rbd children "$P/$A@s" | grep -qx "$P/$N" || fail "its snapshot still reads the parent: it must stay a child"
rbd_export "$N@s1" "$TMP/n-s1.after" && cmp "$TMP/n-s1.before" "$TMP/n-s1.after" || fail "flatten changed the snapshot"
sleep 1.2
rm "$M/$P/.snap/$N/s1" || fail "rm of the flattened clone's last snapshot"
! rbd children "$P/$A@s" | grep -qx "$P/$N" || fail "the clone stayed on its parent's books after its last snapshot went"

step "ln of a snapshot makes a v2 clone: rbd info names its parent, librbd reads and writes it"
L=$(uniq cl-l)
CLEANUP+=("rbd rm $P/$L >/dev/null 2>&1")
ln "$M/$P/.snap/$A/s" "$M/$P/$L" || fail "ln of a snapshot"
info=$(rbd info --format json "$P/$L")
expect_eq "$(/usr/bin/python3 -c 'import json,sys; p=json.loads(sys.argv[1])["parent"]; print("%s/%s@%s %d" % (p["pool"], p["image"], p["snapshot"], p["overlap"]))' "$info")" \
  "$P/$A@s $((10 << 20))" "rbd info parent of the ln clone"
grep -q clone-child <<<"$(rbd info "$P/$L")" || fail "the ln clone lacks op feature clone-child"
rbd children "$P/$A@s" | grep -qx "$P/$L" || fail "rbd children does not list the ln clone"
rbd_export "$A@s" "$TMP/a-s.now"
cmp "$M/$P/$L" "$TMP/a-s.now" || fail "the ln clone does not read as its snapshot"
/usr/bin/python3 -c '
import sys, rados, rbd
with rados.Rados(conffile=sys.argv[1]) as c, c.open_ioctx(sys.argv[2]) as io, rbd.Image(io, sys.argv[3]) as img:
    assert img.read(0, 5000) == open(sys.argv[4], "rb").read(5000), "librbd reads the clone wrong"
    img.write(b"librbd" * 1000, (4 << 20) + 10)
' "$CEPH_CONF" "$P" "$L" "$TMP/a-s.now" || fail "librbd on the ln clone"
rbd_export "$L" "$TMP/l.rbd"
cmp "$M/$P/$L" "$TMP/l.rbd" || fail "the mount does not see librbd's write to the ln clone"
expect_fail "Operation not permitted" ln "$M/$P/$A" "$M/$P/$L-2"
expect_fail "Operation not permitted" ln "$M/$P/.snap/$A/s" "$M/$P/.snap/$A/s2"

step "ln across pools, as rbd clone does"
X=$(uniq cl-x)
CLEANUP+=("rbd rm $P2/$X >/dev/null 2>&1")
ln "$M/$P/.snap/$A/s" "$M/$P2/$X" || fail "ln into another pool"
expect_eq "$(getfattr --absolute-names --only-values -n user.rbd.parent "$M/$P2/$X")" "$P/$A@s" "parent of the clone in $P2"
rbd children "$P/$A@s" | grep -qx "$P2/$X" || fail "rbd children does not list the clone in $P2"
cmp "$M/$P2/$X" "$TMP/a-s.now" || fail "the clone in $P2 does not read as its snapshot"
dd if=/dev/urandom of="$M/$P2/$X" bs=4096 count=1 seek=10 conv=notrunc,fsync status=none
rbd_export "$P2/$X" "$TMP/x.rbd"
cmp "$M/$P2/$X" "$TMP/x.rbd" || fail "the clone in $P2: mount and rbd export differ"

step "rm of a snapshot with v2 clones moves it to the snapshot trash; the clones read on"
rbd snap create "$P/$L@t" >/dev/null 2>&1
T=$(uniq cl-t)
CLEANUP+=("rbd rm $P/$T >/dev/null 2>&1")
sleep 1.2
ln "$M/$P/.snap/$L/t" "$M/$P/$T" || fail "ln of a clone's snapshot"
rbd_export "$L@t" "$TMP/l-t.rbd"
rm "$M/$P/.snap/$L/t" || fail "rm of a snapshot with a clone"
[ ! -e "$M/$P/.snap/$L/t" ] || fail "the trashed snapshot still shows in .snap"
rbd snap ls --all "$P/$L" | grep -q "trash (t)" || fail "rbd snap ls --all: $(rbd snap ls --all "$P/$L")"
cmp "$M/$P/$T" "$TMP/l-t.rbd" || fail "the clone of a trashed snapshot reads wrong"
step "rm (--delete remove) of the last clone of a trashed snapshot removes the snapshot, as librbd does"
M2=$TMP/mnt-remove
mount_rbdfs "$M2" --delete remove
rm "$M2/$P/$T" || fail "rm of a clone"
[ -z "$(rbd snap ls --all "$P/$L" | grep trash)" ] || fail "the trashed snapshot stayed: $(rbd snap ls --all "$P/$L")"
step "rm (--delete remove) of a v2 and of a v1 clone leave their parents' books straight"
rm "$M2/$P/$L" || fail "rm of the ln clone"
! rbd children "$P/$A@s" | grep -qx "$P/$L" || fail "rbd children still lists the removed clone"
rm "$M2/$P2/$X" || fail "rm of the clone in $P2"
! rbd children "$P/$A@s" | grep -qx "$P2/$X" || fail "rbd children still lists the removed clone in $P2"
expect_fail "Device or resource busy" rm "$M/$P/.snap/$B/s"  # protected: v1 clone C uses it
V1=$(uniq cl-v1)
rbd clone --rbd-default-clone-format 1 --image-feature layering "$P/$B@s" "$P/$V1" >/dev/null
sleep 1.2
rm "$M2/$P/$V1" || fail "rm of a v1 clone"
! rbd children "$P/$B@s" | grep -qx "$P/$V1" || fail "rbd children still lists the removed v1 clone"
rbd children "$P/$B@s" | grep -qx "$P/$C" || fail "rbd children lost the other v1 clone"
step "losetup + mount + write on a clone of an ext4 golden image; qemu-img writes a new filesystem over another; mkfs on a third; e2fsck clean"
mkdir -p "$TMP/gold" "$TMP/gold2"
head -c 2000000 /dev/urandom >"$TMP/gold/base"
head -c 1500000 /dev/urandom >"$TMP/gold2/other"
mkfs.ext4 -q -F -d "$TMP/gold" "$TMP/gold.img" 32M
mkfs.ext4 -q -F -d "$TMP/gold2" "$TMP/gold2.img" 32M
GI=$(uniq cl-gold)
Q1=$(uniq cl-q1)
Q2=$(uniq cl-q2)
CLEANUP+=("rbd rm $P/$Q1 >/dev/null 2>&1; rbd rm $P/$Q2 >/dev/null 2>&1; rbd snap purge $P/$GI >/dev/null 2>&1; rbd rm $P/$GI >/dev/null 2>&1")
rbd import --no-progress "$TMP/gold.img" "$P/$GI" >/dev/null
rbd snap create "$P/$GI@v1" >/dev/null 2>&1
sleep 1.2
ln "$M/$P/.snap/$GI/v1" "$M/$P/$Q1" || fail "ln of the golden snapshot"
ln "$M/$P/.snap/$GI/v1" "$M/$P/$Q2" || fail "ln of the golden snapshot"
dev=$(losetup -f --show "$M/$P/$Q1") || fail "losetup of a clone"
CLEANUP+=("losetup -d $dev 2>/dev/null")
mkdir -p "$TMP/fs"
mount "$dev" "$TMP/fs" || fail "mounting the clone's ext4"
CLEANUP+=("umount '$TMP/fs' 2>/dev/null")
cmp "$TMP/fs/base" "$TMP/gold/base" || fail "the golden file reads wrong through the clone"
head -c 3000000 /dev/urandom >"$TMP/payload"
cp "$TMP/payload" "$TMP/fs/payload"
rm "$TMP/fs/base"
umount "$TMP/fs" || fail "umount of the clone's ext4"
losetup -d "$dev"
rbd_export "$Q1" "$TMP/q1.img"
e2fsck -fn "$TMP/q1.img" >"$TMP/fsck" 2>&1 || { cat "$TMP/fsck"; fail "e2fsck: errors in the clone's ext4"; }
debugfs -R "cat /payload" "$TMP/q1.img" 2>/dev/null | cmp - "$TMP/payload" || fail "the file written into the clone differs"
qemu-img convert -n -f raw -O raw -t none "$TMP/gold2.img" "$M/$P/$Q2" || fail "qemu-img convert onto a clone"
rbd_export "$Q2" "$TMP/q2.img"
cmp "$TMP/q2.img" "$TMP/gold2.img" || fail "qemu-img's filesystem on the clone differs"
e2fsck -fn "$TMP/q2.img" >"$TMP/fsck" 2>&1 || { cat "$TMP/fsck"; fail "e2fsck: errors in qemu-img's filesystem"; }
Q3=$(uniq cl-q3)
CLEANUP+=("rbd rm $P/$Q3 >/dev/null 2>&1")
ln "$M/$P/.snap/$GI/v1" "$M/$P/$Q3" || fail "ln of the golden snapshot"
dev=$(losetup -f --show "$M/$P/$Q3") || fail "losetup of a clone"
CLEANUP+=("losetup -d $dev 2>/dev/null")
mkfs.ext4 -q -F "$dev" || fail "mkfs.ext4 on a clone's loop device"
mount "$dev" "$TMP/fs" || fail "mounting the new ext4 on a clone"
cp "$TMP/payload" "$TMP/fs/again"
umount "$TMP/fs" || fail "umount of the new ext4"
losetup -d "$dev"
rbd_export "$Q3" "$TMP/q3.img"
e2fsck -fn "$TMP/q3.img" >"$TMP/fsck" 2>&1 || { cat "$TMP/fsck"; fail "e2fsck: errors in mkfs's filesystem on a clone"; }
debugfs -R "cat /again" "$TMP/q3.img" 2>/dev/null | cmp - "$TMP/payload" || fail "the file written after mkfs on a clone differs"
rbd_export "$GI@v1" "$TMP/gi.img" && cmp "$TMP/gi.img" "$TMP/gold.img" || fail "the golden snapshot changed"
pass "clones read and write through the mount as rbd export says"
