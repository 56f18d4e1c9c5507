#!/bin/bash
# copy_file_range inside the cluster (issue 14): cp of a whole image, of a
# snapshot, across pools and into a namespace, into another object size,
# of a clone, into a clone with a snapshot (copy-up), qemu-img convert -C,
# sparse copies, partial and same-image ranges: every result equals `rbd
# export` (or a model of the ranges copied). Whole objects of equal layout
# must not pass through rbdfs: its messenger byte counters (admin socket)
# grow by under 5 % of a 256 MiB copy.
. "$(dirname "$0")/lib.sh"
need_conf
scratch
export LC_ALL=C
M=$TMP/mnt
P=rbd
P2=$(uniq cppool)
ceph osd pool create "$P2" 8 >/dev/null 2>&1
CLEANUP+=("ceph osd pool rm $P2 $P2 --yes-i-really-really-mean-it >/dev/null 2>&1")
rbd pool init "$P2"
rbd namespace create "$P2/ns"
PFX=$(uniq cp)
CLEANUP+=("for cp_img in \$(rbd ls $P | grep '^$PFX'); do rbd snap purge $P/\$cp_img >/dev/null 2>&1; done; for cp_img in \$(rbd ls $P | grep '^$PFX' | sort -r); do rbd rm --no-progress $P/\$cp_img >/dev/null 2>&1; done")

# rbdfs with an admin socket, to count the bytes its messenger moves
cp "$CEPH_CONF" "$TMP/ceph.conf"
printf '\n[client.admin]\n\tadmin socket = %s\n' "$TMP/rbdfs.asok" >>"$TMP/ceph.conf"
CEPH_CONF=$TMP/ceph.conf mount_rbdfs "$M"
net_bytes() {
  ceph --admin-daemon "$TMP/rbdfs.asok" perf dump | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(v.get("msgr_send_bytes", 0) + v.get("msgr_recv_bytes", 0)
          for k, v in d.items() if k.startswith("AsyncMessenger::Worker")))'
}
same_as() {  # <pool/image[@snap]> <expected file>
  rbd_export "$1" "$TMP/x.rbd"
  cmp "$TMP/x.rbd" "$2" || fail "$1 differs from what was copied"
}
map_clean() {  # rbd object-map check, and the map not flagged invalid after it
  rbd object-map check "$1" >/dev/null 2>&1 || fail "rbd object-map check $1 failed"
  rbd info --format json "$1" | /usr/bin/python3 -c '
import json, sys
flags = json.load(sys.stdin).get("flags", [])
sys.exit(1 if any("invalid" in f for f in flags) else 0)' || fail "object map of $1 found wrong: $(rbd info "$1" | grep flags)"
}
pycopy() {  # <src> <src off> <dst> <dst off> <len>: os.copy_file_range until done
  /usr/bin/python3 - "$@" <<'PY'
import os, sys
src, so, dst, do, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
fo = os.open(dst, os.O_RDWR | os.O_CREAT, 0o644)
fi = fo if src == dst else os.open(src, os.O_RDONLY)
while n:
    r = os.copy_file_range(fi, fo, n, so, do)
    if r == 0:
        break
    so += r; do += r; n -= r
os.fsync(fo)
PY
}

step "cp of a whole 256 MiB image: the OSDs copy it"
head -c $((256 << 20)) /dev/urandom >"$TMP/full.raw"
rbd import --no-progress "$TMP/full.raw" "$P/$PFX-full" >/dev/null
before=$(net_bytes)
strace -f -e trace=copy_file_range -o "$TMP/cp.strace" cp "$M/$P/$PFX-full" "$M/$P/$PFX-copy"
after=$(net_bytes)
grep -q 'copy_file_range(.*= [1-9]' "$TMP/cp.strace" || fail "cp did not use copy_file_range: $(head -3 "$TMP/cp.strace")"
moved=$((after - before))
echo "   rbdfs' messenger moved $moved bytes for a 268435456-byte copy"
[ "$moved" -lt $(((256 << 20) / 20)) ] || fail "the copy moved $moved bytes through rbdfs (5 % is $(((256 << 20) / 20)))"
same_as "$P/$PFX-copy" "$TMP/full.raw"
pass "cp copies inside RADOS: $moved bytes through rbdfs for 256 MiB"

step "a snapshot back into a new image; across pools; into a namespace; another object size"
rbd snap create "$P/$PFX-full@s" >/dev/null 2>&1
dd if=/dev/zero of="$M/$P/$PFX-full" bs=1M count=3 seek=5 conv=notrunc,fsync status=none
cp "$M/$P/.snap/$PFX-full/s" "$M/$P/$PFX-fromsnap"
same_as "$P/$PFX-fromsnap" "$TMP/full.raw"
rbd_export "$P/$PFX-full" "$TMP/full2.raw"
before=$(net_bytes)
cp "$M/$P/$PFX-full" "$M/$P2/xpool"
cp "$M/$P/$PFX-full" "$M/$P2/ns/inns"
moved=$(($(net_bytes) - before))
same_as "$P2/xpool" "$TMP/full2.raw"
same_as "$P2/ns/inns" "$TMP/full2.raw"
[ "$moved" -lt $(((512 << 20) / 20)) ] || fail "copies across pools moved $moved bytes through rbdfs"
rbd create --size 1M --object-size 1M --image-feature layering "$P/$PFX-obj1m"
cp "$M/$P/$PFX-full" "$M/$P/$PFX-obj1m"  # O_TRUNC, then grown: read and written here
same_as "$P/$PFX-obj1m" "$TMP/full2.raw"
expect_eq "$(rbd info --format json "$P/$PFX-obj1m" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["object_size"])')" \
  1048576 "the destination keeps its object size"
pass "snapshots, other pools, namespaces and other layouts copy equal to rbd export"

step "sparse: a 1 GiB image holding 24 MiB copies as 24 MiB, holes stay holes"
rbd create --size 1G "$P/$PFX-sparse"  # default features: object map
/usr/bin/python3 - "$CEPH_CONF" "$P" "$PFX-sparse" <<'PY'
import os, sys, rados, rbd
with rados.Rados(conffile=sys.argv[1]) as c, c.open_ioctx(sys.argv[2]) as io, rbd.Image(io, sys.argv[3]) as img:
    for k, at in enumerate((0, 100 << 20, 512 << 20, 700 << 20, (1 << 30) - (4 << 20), 300 << 20)):
        img.write(os.urandom(4 << 20), at)
PY
rbd_export "$P/$PFX-sparse" "$TMP/sparse.raw"
before=$(net_bytes)
pycopy "$M/$P/$PFX-sparse" 0 "$M/$P/$PFX-sparse2" 0 $((1 << 30))
moved=$(($(net_bytes) - before))
same_as "$P/$PFX-sparse2" "$TMP/sparse.raw"
used=$(rbd du --format json "$P/$PFX-sparse2" 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["images"][0]["used_size"])')
[ "$used" -le $((24 << 20)) ] || fail "the sparse copy uses $used bytes (the source 24 MiB)"
[ "$moved" -lt $(((24 << 20) / 20)) ] || fail "the sparse copy moved $moved bytes through rbdfs"
map_clean "$P/$PFX-sparse2"
pass "a sparse copy: $used bytes used, $moved through rbdfs"

step "clones: as the source (parent data comes along), as a destination with a snapshot (copy-up)"
rbd clone --rbd-default-clone-format 2 "$P/$PFX-full@s" "$P/$PFX-cl" >/dev/null
echo clone-data | dd of="$M/$P/$PFX-cl" bs=1 seek=$((9 << 20)) conv=notrunc,fsync status=none
rbd_export "$P/$PFX-cl" "$TMP/cl.raw"
cp "$M/$P/$PFX-cl" "$M/$P/$PFX-clcopy"
same_as "$P/$PFX-clcopy" "$TMP/cl.raw"
rbd clone --rbd-default-clone-format 2 "$P/$PFX-full@s" "$P/$PFX-cl2" >/dev/null
rbd snap create "$P/$PFX-cl2@k" >/dev/null 2>&1
rbd_export "$P/$PFX-cl2@k" "$TMP/cl2k.raw"
cp "$TMP/cl2k.raw" "$TMP/cl2.model"
pycopy "$M/$P/$PFX-full" $((4 << 20)) "$M/$P/$PFX-cl2" $((8 << 20)) $((4 << 20))  # a whole object
pycopy "$M/$P/$PFX-full" 100 "$M/$P/$PFX-cl2" 5000 70000                           # a piece
/usr/bin/python3 - "$TMP/full2.raw" "$TMP/cl2.model" <<'PY'
import sys
src = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "r+b") as m:
    m.seek(8 << 20); m.write(src[4 << 20:8 << 20])
    m.seek(5000); m.write(src[100:70100])
PY
same_as "$P/$PFX-cl2" "$TMP/cl2.model"
same_as "$P/$PFX-cl2@k" "$TMP/cl2k.raw"
map_clean "$P/$PFX-cl2"
# into a clone without snapshots: whole objects by the OSDs, no copy-up needed
rbd clone --rbd-default-clone-format 2 "$P/$PFX-full@s" "$P/$PFX-cl3" >/dev/null
cp "$TMP/full.raw" "$TMP/cl3.model"
pycopy "$M/$P/$PFX-full" $((4 << 20)) "$M/$P/$PFX-cl3" $((8 << 20)) $((8 << 20))
pycopy "$M/$P/$PFX-full" 100 "$M/$P/$PFX-cl3" $((20 << 20)) 70000
/usr/bin/python3 - "$TMP/full2.raw" "$TMP/cl3.model" <<'PY'
import sys
src = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "r+b") as m:
    m.seek(8 << 20); m.write(src[4 << 20:12 << 20])
    m.seek(20 << 20); m.write(src[100:70100])
PY
same_as "$P/$PFX-cl3" "$TMP/cl3.model"
map_clean "$P/$PFX-cl3"
# from a clone's snapshot taken before an object was copied up: its data is
# the parent's there
rbd clone --rbd-default-clone-format 2 "$P/$PFX-full@s" "$P/$PFX-cl4" >/dev/null
rbd snap create "$P/$PFX-cl4@before" >/dev/null 2>&1
echo later | dd of="$M/$P/$PFX-cl4" bs=1 seek=$((12 << 20)) conv=notrunc,fsync status=none
rbd_export "$P/$PFX-cl4@before" "$TMP/cl4b.raw"
cp "$M/$P/.snap/$PFX-cl4/before" "$M/$P/$PFX-cl4copy"
same_as "$P/$PFX-cl4copy" "$TMP/cl4b.raw"
pass "clones copy with their parent's data, and into clones with and without snapshots"

step "ranges: within one image, partial objects, past the source's end; qemu-img convert -C"
rbd_export "$P/$PFX-copy" "$TMP/self.model"
pycopy "$M/$P/$PFX-copy" $((8 << 20)) "$M/$P/$PFX-copy" $((40 << 20)) $((12 << 20))
pycopy "$M/$P/$PFX-copy" 12345 "$M/$P/$PFX-copy" $((100 << 20)) 3000000
/usr/bin/python3 - "$TMP/self.model" <<'PY'
import sys
with open(sys.argv[1], "r+b") as m:
    d = m.read()
    m.seek(40 << 20); m.write(d[8 << 20:20 << 20])
    d = open(sys.argv[1], "rb").read()
    m.seek(100 << 20); m.write(d[12345:12345 + 3000000])
PY
same_as "$P/$PFX-copy" "$TMP/self.model"
/usr/bin/python3 - "$M/$P/$PFX-copy" <<'PY' || fail "overlapping ranges in one file were not refused"
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    os.copy_file_range(fd, fd, 1 << 20, 0, 4096)
    sys.exit(1)
except OSError as e:
    sys.exit(0 if e.errno == errno.EINVAL else 1)
PY
pycopy "$M/$P/$PFX-full" $((255 << 20)) "$M/$P/$PFX-tail" 0 $((8 << 20))  # 1 MiB left in the source
expect_eq "$(image_size "$P/$PFX-tail")" $((1 << 20)) "a copy past the source's end stops there"
# a snapshot onto its own head, at the same place (the OSD cannot copy an
# object onto itself)
pycopy "$M/$P/.snap/$PFX-full/s" $((4 << 20)) "$M/$P/$PFX-full" $((4 << 20)) $((8 << 20))
/usr/bin/python3 - "$TMP/full2.raw" "$TMP/full.raw" <<'PY'
import sys
snap = open(sys.argv[2], "rb").read()
with open(sys.argv[1], "r+b") as m:
    m.seek(4 << 20); m.write(snap[4 << 20:12 << 20])
PY
same_as "$P/$PFX-full" "$TMP/full2.raw"
# two copies the opposite way at once (A to B while B to A, whole objects):
# neither may wait for the other for ever
cat >"$TMP/crossed.py" <<'PY'
import os, sys
a = os.open(sys.argv[1], os.O_RDONLY)
b = os.open(sys.argv[2], os.O_RDWR)
n, o = 64 << 20, 0
while o < n:
    o += os.copy_file_range(a, b, n - o, o, o)
PY
timeout 120 /usr/bin/python3 "$TMP/crossed.py" "$M/$P/$PFX-copy" "$M/$P/$PFX-fromsnap" &
c1=$!
timeout 120 /usr/bin/python3 "$TMP/crossed.py" "$M/$P/$PFX-fromsnap" "$M/$P/$PFX-copy" &
c2=$!
wait "$c1" || fail "a copy crossed by one the other way did not finish within 120 s (or failed)"
wait "$c2" || fail "a copy crossed by one the other way did not finish within 120 s (or failed)"
qemu-img convert -C -f raw -O raw "$M/$P/$PFX-full" "$M/$P/$PFX-qemu"
same_as "$P/$PFX-qemu" "$TMP/full2.raw"
pass "partial, same-image and clipped ranges are exact; qemu-img convert -C agrees"
