#!/bin/bash
# One step per bug found (issue 10): each failed before its fix.
#  1. a write that extends an image after a shrink grew it back to its old size
#  2. an early-acknowledged write's error went to whoever flushed first
#  3. rm of an open image left it cached by name: a new image of that name
#     was served from the trashed one
#  4. snapshot remove/rename bypassed the feature gate
#  5. SEEK_DATA/SEEK_HOLE statted every object from object 0; st_blocks of
#     images over 4,096 objects claimed every block
#  6. (found by a soak of the exerciser) the header watch callback could hold
#     the last reference of an image being closed: the image was destroyed
#     on librados' thread, whose watch_flush then waited for itself, and every
#     later close hung
#  7. the per-image caches (name -> id, headers, st_blocks) kept an entry for
#     every image the mount ever listed: over a pool whose images come and
#     go, the daemon grew without end
#  8. a pool created after the mount never showed: the client's OSD map only
#     moved when something else asked for a newer one
. "$(dirname "$0")/lib.sh"
need_conf
scratch
M=$TMP/mnt
P=rbd
# rbdfs' own read ops come from its admin socket (the OSDs' counters also
# count whatever the tests running beside this one read)
cp "$CEPH_CONF" "$TMP/ceph.conf"
printf '\n[client.admin]\n\tadmin socket = %s\n' "$TMP/rbdfs.asok" >>"$TMP/ceph.conf"
CEPH_CONF=$TMP/ceph.conf mount_rbdfs "$M"
# ONLY="1 3": run only those steps (to replay one bug)
wanted() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
osd_reads() {
  ceph --admin-daemon "$TMP/rbdfs.asok" perf dump |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["objecter"]["op_r"])'
}

if wanted 1; then
step "1. grow to S, shrink below S, extend: the size is the end of the write"
G=$(uniq grow)
rbd create --size 0 --image-feature layering "$P/$G"
CLEANUP+=("rbd rm $P/$G >/dev/null 2>&1")
# one open file throughout (log files, qemu-img resize --shrink then writes)
/usr/bin/python3 - "$M/$P/$G" <<'PY' || fail "grow, shrink, extend through one descriptor"
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
for i in range(8):
    os.pwrite(fd, os.urandom(1 << 20), i << 20)      # grown to 8 MiB
os.ftruncate(fd, 1 << 20)                            # shrunk below it
os.pwrite(fd, b"x" * 4096, 2 << 20)                  # extended
os.fsync(fd)
assert os.fstat(fd).st_size == (2 << 20) + 4096, os.fstat(fd).st_size
os.close(fd)
PY
expect_eq "$(image_size "$P/$G")" $(((2 << 20) + 4096)) "rbd info size after grow, shrink, extend"
sleep 1.1  # attribute timeout
expect_eq "$(stat -c %s "$M/$P/$G")" $(((2 << 20) + 4096)) "st_size after grow, shrink, extend"
expect_eq "$(wc -c < "$M/$P/$G")" $(((2 << 20) + 4096)) "bytes read after grow, shrink, extend"
# growing records the size in the background: once cp returns (close waits
# for it), other clients see the exact size
O=$(uniq odd)
head -c 10000123 /dev/urandom > "$TMP/odd"
cp "$TMP/odd" "$M/$P/$O" || fail "cp of 10,000,123 bytes"
CLEANUP+=("rbd rm $P/$O >/dev/null 2>&1")
expect_eq "$(image_size "$P/$O")" 10000123 "rbd info size right after cp"
cmp <(rbd export --no-progress "$P/$O" - 2>/dev/null) "$TMP/odd" || fail "rbd export of the copied file differs"
fi

if wanted 2; then
step "2. a deferred write error goes to the descriptors that wrote, once each, never to a reader"
RO=$(uniq ro)
# data writes fail in RADOS (EPERM) after rbdfs acknowledged them; the
# header may be watched, so other clients' notifies reach the mount
ceph auth get-or-create "client.$RO" mon 'profile rbd' osd 'allow rx, allow rwx object_prefix rbd_header.' \
  -o "$TMP/ro.keyring" >/dev/null 2>&1 || fail "cannot create a client that cannot write data"
CLEANUP+=("ceph auth del client.$RO >/dev/null 2>&1")
W=$(uniq werr)
head -c 1048576 /dev/urandom > "$TMP/w"
rbd import --no-progress --image-feature layering "$TMP/w" "$P/$W" >/dev/null
CLEANUP+=("rbd snap purge $P/$W >/dev/null 2>&1; rbd rm $P/$W >/dev/null 2>&1")
MR=$TMP/mnt-ro
mkdir -p "$MR"
"$RBDFS" ceph "$MR" -c "$CEPH_CONF" --id "$RO" -k "$TMP/ro.keyring" -p "$P" || fail "mount with the read-only key failed"
CLEANUP+=("umount_rbdfs '$MR'")
/usr/bin/python3 - "$MR/$P/$W" "$P/$W" "$CEPH_CONF" <<'PY' || fail "deferred errors per descriptor"
import errno, os, subprocess, sys, time
path, spec, conf = sys.argv[1:4]
def fsync_errno(fd):
    try:
        os.fsync(fd)
        return 0
    except OSError as e:
        return e.errno
def close_errno(fd):
    try:
        os.close(fd)
        return 0
    except OSError as e:
        return e.errno
# a reader's close before the writer's fsync
w = os.open(path, os.O_WRONLY)
assert os.pwrite(w, b"z" * 4096, 8192) == 4096   # acknowledged early, refused by RADOS
time.sleep(0.5)                                   # RADOS has answered
r = os.open(path, os.O_RDONLY)
os.pread(r, 10, 0)
assert close_errno(r) == 0, "a reader's close reported a writer's error"
assert fsync_errno(w) == errno.EPERM, "the writer's fsync did not report its refused write"
assert fsync_errno(w) == 0, "reported twice"
# two writers open when the error happens: each sees it once; a writable
# descriptor that wrote nothing sees nothing
a = os.open(path, os.O_WRONLY)
b = os.open(path, os.O_WRONLY)
idle = os.open(path, os.O_RDWR)
os.pwrite(a, b"a" * 4096, 0)
os.pwrite(b, b"b" * 4096, 4096)
time.sleep(0.5)
assert fsync_errno(idle) == 0, "a descriptor that did not write got the error"
assert fsync_errno(a) == errno.EPERM, "writer a did not see the error"
assert fsync_errno(b) == errno.EPERM, "writer b did not see the error"
assert fsync_errno(a) == 0 and fsync_errno(b) == 0, "reported twice"
# another client's header notify (its handler drains) does not swallow it,
# nor does the close of the descriptor's copy in a child (at its exec)
os.pwrite(a, b"c" * 4096, 0)
time.sleep(0.5)
os.set_inheritable(a, True)
subprocess.run(["rbd", "-c", conf, "snap", "create", spec + "@notify"], check=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=False)
os.set_inheritable(a, False)
subprocess.run(["true"])   # a child that closes its copy at exec
time.sleep(1)
assert fsync_errno(a) == errno.EPERM, "another client's notify or a child's close swallowed the error"
assert fsync_errno(a) == 0, "reported twice"
# and close() reports it when fsync was never called
os.pwrite(b, b"d" * 4096, 0)
time.sleep(0.5)
assert close_errno(b) == errno.EPERM, "close() of the writer did not report its refused write"
# the other writers were open when that error happened: their close says so
assert close_errno(a) == errno.EPERM and close_errno(w) == errno.EPERM, "a writer missed an error"
assert close_errno(idle) == 0, "a descriptor that never wrote reported an error at close"
PY
umount_rbdfs "$MR"
cmp <(rbd export --no-progress "$P/$W" - 2>/dev/null) "$TMP/w" || fail "a refused write changed the image"
fi

if wanted 3; then
step "3. rm of an open image, then a new image of that name: the mount serves the new one"
R=$(uniq reuse)
head -c 2000000 /dev/urandom > "$TMP/old"
head -c 1000000 /dev/urandom > "$TMP/new"
cp "$TMP/old" "$M/$P/$R" || fail "cp of the first image"
exec 7<"$M/$P/$R"          # held open while it is removed
rm "$M/$P/$R" || fail "rm of an open image"
id=$(rbd trash ls "$P" | awk -v n="$R" '$2 == n { print $1 }')
[ -n "$id" ] || fail "rm did not move the image to the trash"
CLEANUP+=("rbd trash rm $P/$id >/dev/null 2>&1")
cp "$TMP/new" "$M/$P/$R" || fail "cp of the second image under the same name"
CLEANUP+=("rbd rm $P/$R >/dev/null 2>&1")
cmp <(rbd export --no-progress "$P/$R" - 2>/dev/null) "$TMP/new" || fail "rbd export of the new image differs"
cmp "$M/$P/$R" "$TMP/new" || fail "the mount serves the trashed image under the new one's name"
expect_eq "$(stat -c %s "$M/$P/$R")" 1000000 "size of the new image"
cmp <(cat <&7) "$TMP/old" || fail "the descriptor open on the removed image no longer reads it"
exec 7<&-
fi

if wanted 4; then
step "4. snapshot remove and rename go through the feature gate"
D=$(uniq journal)
# journaling: a feature rbdfs does not write (before issue 11 this step used
# Pacific's defaults, then read-only in rbdfs)
rbd create --size 1M --image-feature layering,exclusive-lock,journaling "$P/$D"
rbd snap create "$P/$D@s1" >/dev/null 2>&1
CLEANUP+=("rbd snap purge $P/$D >/dev/null 2>&1; rbd rm $P/$D >/dev/null 2>&1")
sleep 1.1
[ -f "$M/$P/.snap/$D/s1" ] || fail "snapshot not visible"
expect_fail "Read-only file system" rm "$M/$P/.snap/$D/s1"
expect_fail "Read-only file system" mv "$M/$P/.snap/$D/s1" "$M/$P/.snap/$D/s2"
expect_fail "Read-only file system" touch "$M/$P/.snap/$D/s3"
expect_eq "$(rbd snap ls --format json "$P/$D" | /usr/bin/python3 -c 'import json,sys; print(",".join(s["name"] for s in json.load(sys.stdin)))')" \
  "s1" "snapshots after refused changes"
fi

if wanted 5; then
step "5. SEEK_DATA/SEEK_HOLE scan from the offset asked; st_blocks is honest at any size"
B=$(uniq big)
rbd create --size 64G --image-feature layering "$P/$B"
CLEANUP+=("rbd rm --no-progress $P/$B >/dev/null 2>&1")
head -c $((4 << 20)) /dev/urandom > "$TMP/d1"
head -c $((4 << 20)) /dev/urandom > "$TMP/d2"
dd if="$TMP/d1" of="$M/$P/$B" bs=4M conv=notrunc status=none
dd if="$TMP/d2" of="$M/$P/$B" bs=4M seek=$((40 << 8)) conv=notrunc,fsync status=none  # at 40 GiB
sleep 5.2   # st_blocks is cached for 5 s
blocks=$(stat -c %b "$M/$P/$B")
[ "$blocks" -ge $((8 << 11)) ] && [ "$blocks" -le $((8 << 11)) ] || fail "st_blocks of 8 MiB of data: $blocks"
before=$(osd_reads)
/usr/bin/python3 - "$M/$P/$B" <<'PY' || fail "lseek on the 64 GiB image"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
G = 1 << 30
# near the end of the image: only the objects from the offset on are looked at
assert os.lseek(fd, 40 * G - 4096, os.SEEK_DATA) == 40 * G
assert os.lseek(fd, 40 * G + 100, os.SEEK_HOLE) == 40 * G + (4 << 20)
try:
    os.lseek(fd, 60 * G, os.SEEK_DATA)
    raise AssertionError("SEEK_DATA past the last data succeeded")
except OSError as e:
    assert e.errno == 6, e   # ENXIO
assert os.lseek(fd, 60 * G, os.SEEK_HOLE) == 60 * G
PY
after=$(osd_reads)
# from object 10239 on it is at most 6,145 objects per call (+16,384 if
# st_blocks is refreshed meanwhile); from object 0 it was 4 x 16,384
[ $((after - before)) -lt 30000 ] || fail "lseek near the end read $((after - before)) objects"
start=$(date +%s.%N)
cp --sparse=auto "$M/$P/$B" "$TMP/big.copy" || fail "cp out of the mount"
echo "   cp --sparse=auto of a 64 GiB image holding 8 MiB: $(echo "$(date +%s.%N) - $start" | bc) s"
expect_eq "$(stat -c %s "$TMP/big.copy")" $((64 << 30)) "size of the copy"
[ "$(du -k "$TMP/big.copy" | cut -f1)" -le $((16 << 10)) ] || fail "the copy is not sparse: $(du -k "$TMP/big.copy")"
cmp -n $((4 << 20)) "$TMP/big.copy" "$TMP/d1" || fail "copy: first object differs"
cmp <(dd if="$TMP/big.copy" bs=4M skip=$((40 << 8)) count=1 status=none) "$TMP/d2" || fail "copy: data at 40 GiB differs"
rm -f "$TMP/big.copy"
fi

if wanted 6; then
step "6. files grown and closed while notifies (ours, another client's) arrive: nothing hangs"
N=$(uniq notify)
head -c 1048576 /dev/urandom > "$TMP/n"
rbd import --no-progress --image-feature layering "$TMP/n" "$P/$N" >/dev/null
CLEANUP+=("rbd rm $P/$N >/dev/null 2>&1")
timeout 120 /usr/bin/python3 - "$CEPH_CONF" "$P" "$N" "$M/$P/$N" <<'PY' || fail "open/close under notifies hung or failed"
import os, rados, sys, threading
conf, pool, name, path = sys.argv[1:5]
c = rados.Rados(conffile=conf); c.connect(); io = c.open_ioctx(pool)
oid = "rbd_header." + io.read("rbd_id." + name)[4:].decode()
stop = threading.Event()
def notifier():
    while not stop.is_set():
        io.notify(oid, "", 5000)    # the legacy header update
t = threading.Thread(target=notifier); t.start()
try:
    for i in range(1500):
        fd = os.open(path, os.O_RDWR)
        os.pwrite(fd, b"%d" % i, (1 << 20) + 512 * i)   # grows: our own notify follows
        os.close(fd)
finally:
    stop.set(); t.join()
PY
fi

if wanted 8; then
step "8. pools created after the mount show up: in the root's listing, and at once by name"
NP=$(uniq newpool)
new_rbd_pool "$NP"
t0=$(now)
stat "$M/$NP" >/dev/null 2>&1 || fail "step 8: stat of the pool created after the mount: $(stat "$M/$NP" 2>&1)"
echo "   stat by name answered in $(echo "$(now) - $t0" | bc) s"
NP2=$(uniq newpool)
new_rbd_pool "$NP2"
for _ in $(seq 50); do ls "$M" | contains -x -F "$NP2" && break; sleep 0.2; done
ls "$M" | contains -x -F "$NP2" || fail "step 8: the pool $NP2 is not in the root's listing 10 s after it was made"
fi

if wanted 7; then
step "7. images that come and go: the per-image caches keep what is recent, not every image ever seen"
# four rounds: 120 images created from outside, listed with ls -l through the
# mount, removed from outside; after each, the cache sizes (user.rbdfs.caches
# on the mount's root) must stay within two rounds' worth, plus 64 for what
# the earlier steps left (480 and more without the sweep: every image ever
# listed; the sweep starts at 256 entries)
CP=$(uniq churn)
new_rbd_pool "$CP"
for _ in $(seq 50); do [ -d "$M/$CP" ] && break; sleep 0.2; done
timeout 540 /usr/bin/python3 - "$CEPH_CONF" "$CP" "$M" <<'PY' || fail "step 7: the caches kept images that are gone (or 480 images took over 9 minutes to make and remove)"
import os, rados, rbd, subprocess, sys, time
conf, pool, mnt = sys.argv[1:4]
c = rados.Rados(conffile=conf); c.connect(); io = c.open_ioctx(pool)
def caches():
    v = os.getxattr(mnt, "user.rbdfs.caches").decode()
    return dict((k, int(x)) for k, x in (f.split("=") for f in v.split()))
N = 120
for r in range(4):
    names = ["r%d-%03d" % (r, i) for i in range(N)]
    for n in names:
        rbd.RBD().create(io, n, 1 << 30, old_format=False, features=1)
    time.sleep(1.2)  # the pool's listing is a second old at most
    out = subprocess.run(["ls", "-l", os.path.join(mnt, pool)], capture_output=True, text=True)
    shown = sum(1 for l in out.stdout.splitlines() if l.startswith("-"))
    assert shown == N, "round %d: ls -l showed %d of %d images: %s" % (r, shown, N, out.stderr)
    got = caches()
    print("   round %d: %s" % (r, got))
    for k in ("ids", "headers", "blocks"):
        assert got[k] <= 2 * N + 64, "round %d: %s holds %d entries, rounds of %d images (bound %d)" % (
            r, k, got[k], N, 2 * N + 64)
    for n in names:
        rbd.RBD().remove(io, n)
PY
fi

pass "regressions"
