#!/bin/bash
# Images with Pacific's default features (exclusive-lock, object-map,
# fast-diff, deep-flatten) written by rbdfs next to librbd, qemu and the rbd
# CLI, with librbd's exclusive lock protocol (cls lock rbd_lock, tag
# internal, cookie "auto <watch handle>") and the object map kept right:
#  1. rbdfs and librbd take turns writing one image (the mount's descriptor
#     stays open): every write of each is seen by the other, the lock
#     changes hands, the object map stays valid
#  2. fast-diff: rbd diff / du from the object map list exactly the objects
#     rbdfs wrote, before and after a snapshot, as for a librbd-written twin
#  3. qemu-io and rbdfs take turns on overlapping ranges
#  4. a SIGKILLed rbdfs owner is broken by librbd; a SIGKILLed librbd owner
#     is broken (blocklisted) by rbdfs
#  5. a librbd client holding the lock with lock_acquire(EXCLUSIVE): rbdfs
#     writes fail with EROFS, nothing changes, writes work once it is gone
#  6. rbd snap create and rbd resize from outside while rbdfs owns the lock,
#     with acknowledged but unsynced writes pending
#  7. the parent of a clone (feature operations) is written through the mount
#  8. rbdfs blocklisted while it owns the lock: its writes fail with
#     ESHUTDOWN, the log says why, and it connects again as a new client
#     instance: the descriptor open at the blocklist stays fenced (ESHUTDOWN
#     until closed, as krbd and librbd fence), new ones write again
#  9. rbdfs blocklisted with nothing open, then with an idle writable
#     descriptor: the first new opens after it (listing, another image, the
#     idle image again) work at once; the idle descriptor is fenced; a
#     read-only descriptor reads on at once; user.rbdfs.client names the
#     instance
# ONLY="1 3": run only those steps. SEED=n: replay the random data of step 1.
# RBDFS_TEST_MOUNT_OPTS: more rbdfs options for the main mount (e.g.
# "--log-file F --log-level debug").
. "$(dirname "$0")/lib.sh"
need_conf
scratch
M=$TMP/mnt
P=rbd
PY=/usr/bin/python3
MiB=$((1 << 20))
SEED=${SEED:-$RANDOM}
wanted() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
# le A B: A <= B for decimals
le() { [ "$(echo "$1 <= $2" | bc)" = 1 ]; }
# (tmo, from lib.sh: a hang fails the test instead of blocking it, SIGKILL
# too: a process waiting on FUSE only dies of that)

# helpers for the python parts; the rbd and rados CLIs are the oracle
export PYTHONPATH=$TMP
cat > "$TMP/elock.py" <<'PY'
import errno, json, os, subprocess, sys, time

def die(msg):
    sys.stderr.write("  %s\n" % msg)
    sys.stderr.flush()
    sys.exit(1)

def run(args, timeout=90, check=True):
    try:
        r = subprocess.run(args, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        die("'%s' did not finish within %d s" % (" ".join(args), timeout))
    if check and r.returncode != 0:
        die("'%s' exited %d: %s" % (" ".join(args), r.returncode, r.stderr.decode(errors="replace").strip()))
    return r

def rbd_json(*args):
    return json.loads(run(["rbd", *args, "--format", "json"]).stdout)

def export(spec):
    return run(["rbd", "export", "--no-progress", spec, "-"], timeout=120).stdout

def cluster():
    import rados
    c = rados.Rados(conffile=os.environ["CEPH_CONF"])
    c.connect()
    return c

def describe(got, want, before=None, base=0):
    """what differs between two byte strings, in 4 KiB blocks"""
    if len(got) != len(want):
        return "%d bytes, expected %d" % (len(got), len(want))
    g, w = memoryview(got), memoryview(want)
    bad = [i for i in range(0, len(want), 4096) if g[i:i + 4096] != w[i:i + 4096]]
    if not bad:
        return "equal"
    first = next(i for i in range(bad[0], min(bad[0] + 4096, len(want))) if got[i] != want[i])
    s = "%d of %d 4 KiB blocks differ, the first at byte %d (got 0x%02x, expected 0x%02x)" % (
        len(bad), (len(want) + 4095) // 4096, base + first, got[first], want[first])
    zeros = sum(1 for i in bad if not any(g[i:i + 4096]))
    if zeros:
        s += "; %d of them read as zeros" % zeros
    if before is not None:
        b = memoryview(before)
        stale = sum(1 for i in bad if g[i:i + 4096] == b[i:i + 4096])
        if stale:
            s += "; %d of them still hold the bytes from before the last write" % stale
    return s

def expect_bytes(what, got, want, before=None, base=0):
    if got != want:
        die("%s: %s" % (what, describe(got, want, before, base)))

def rbdfs_call(what, fn, *args):
    try:
        return fn(*args)
    except OSError as e:
        die("%s through the mount failed: [Errno %d] %s" % (what, e.errno, e.strerror))

def fails_with(what, errnos, fn, *args):
    """fn(*args) must fail with one of errnos; returns the errno's name"""
    try:
        fn(*args)
    except OSError as e:
        if e.errno not in errnos:
            die("%s failed with %s, expected %s" % (what, e, "/".join(errno.errorcode[n] for n in errnos)))
        return errno.errorcode[e.errno]
    die("%s succeeded" % what)

def rbdfs_pwrite(what, fd, data, off):
    n = rbdfs_call(what, os.pwrite, fd, data, off)
    if n != len(data):
        die("%s through the mount wrote %d of %d bytes" % (what, n, len(data)))

def pread_all(fd, size, off=0):
    out = bytearray()
    while len(out) < size:
        b = rbdfs_call("pread", os.pread, fd, min(size - len(out), 16 << 20), off + len(out))
        if not b:
            break
        out += b
    return bytes(out)

def expect_mount_sees(fd, want, what, before=None, off=0, timeout=10, path=None):
    """a read through the open descriptor shows want, within timeout s
    (path: the file, opened anew on failure to tell a stale page cache)"""
    t0 = time.time()
    while True:
        got = pread_all(fd, len(want), off)
        if got == want:
            if time.time() - t0 > 0.5:
                print("   %s: seen through the mount after %.1f s" % (what, time.time() - t0))
            return
        if time.time() - t0 > timeout:
            why = ""
            if path is not None:
                fd2 = rbdfs_call("open", os.open, path, os.O_RDONLY)
                fresh = pread_all(fd2, len(want), off)
                os.close(fd2)
                why = ("; a new open of the file reads the right bytes (the open descriptor's "
                       "page cache was not invalidated)" if fresh == want else
                       "; a new open of the file differs too: %s" % describe(fresh, want, before, off))
            die("%s: a read through the open descriptor still differs after %d s: %s%s" %
                (what, timeout, describe(got, want, before, off), why))
        time.sleep(0.5)

def header_oid(spec):
    return "rbd_header." + rbd_json("info", spec)["id"]

def lock_info(spec):
    pool = spec.split("/")[0]
    r = run(["rados", "-p", pool, "lock", "info", header_oid(spec), "rbd_lock", "--format", "json"])
    return json.loads(r.stdout)

def watchers(spec):
    return rbd_json("status", spec)["watchers"]

def alive(spec, locker):
    """the locker has a watch on the header with its address and handle: what
    librbd checks before it declares an owner dead (and blocklists it)"""
    cookie = locker["cookie"]
    if not cookie.startswith("auto ") or not cookie[5:].isdigit():
        return False
    return any(w["address"] == locker["addr"] and w["cookie"] == int(cookie[5:]) and
               "client.%d" % w["client"] == locker["name"] for w in watchers(spec))

def expect_owner(spec, what, want=None, not_addrs=()):
    """exactly one holder of rbd_lock, as librbd takes it: exclusive, tag
    internal, cookie "auto <watch handle>" of a live watch, no expiration.
    want: (entity, address) it must be. Returns (entity, address, cookie)."""
    li = lock_info(spec)
    lk = li.get("lockers", [])
    if len(lk) != 1:
        die("%s: expected one holder of rbd_lock on %s, found: %s; watchers: %s" %
            (what, spec, json.dumps(li), json.dumps(watchers(spec))))
    l = lk[0]
    if li.get("type") != "exclusive" or li.get("tag") != "internal":
        die("%s: rbd_lock is type '%s' tag '%s'; librbd takes it exclusive, tag 'internal' (else it "
            "reports 'locked by an external mechanism')" % (what, li.get("type"), li.get("tag")))
    if not l["cookie"].startswith("auto ") or not l["cookie"][5:].isdigit():
        die("%s: lock cookie '%s', expected 'auto <watch handle>'" % (what, l["cookie"]))
    if float(l.get("expiration", "0") or 0) != 0:
        die("%s: the lock expires (%s); librbd's never does" % (what, l["expiration"]))
    if not alive(spec, l):
        die("%s: holder %s %s cookie '%s' has no watch of that address and handle on the header "
            "(librbd would take it for dead and blocklist it); watchers: %s" %
            (what, l["name"], l["addr"], l["cookie"], json.dumps(watchers(spec))))
    ls = rbd_json("lock", "ls", spec)
    if ls != [{"id": l["cookie"], "locker": l["name"], "address": l["addr"]}]:
        die("%s: rbd lock ls shows %s, rados lock info %s" % (what, json.dumps(ls), json.dumps(l)))
    if want is not None and (l["name"], l["addr"]) != tuple(want):
        die("%s: the lock is held by %s %s, expected %s %s" % (what, l["name"], l["addr"], want[0], want[1]))
    if l["addr"] in not_addrs:
        die("%s: the lock is still held by %s %s" % (what, l["name"], l["addr"]))
    return l["name"], l["addr"], l["cookie"]

def expect_not_orphaned(spec, what, timeout=10):
    """after the last close: the lock is released, or held by a live watch"""
    t0 = time.time()
    while True:
        lk = lock_info(spec).get("lockers", [])
        if all(alive(spec, l) for l in lk):
            return
        if time.time() - t0 > timeout:
            die("%s: rbd_lock is held without a matching watch (%s), watchers %s: the next librbd "
                "client will blocklist the holder" % (what, json.dumps(lk), json.dumps(watchers(spec))))
        time.sleep(0.5)

def check_flags(spec, what):
    flags = rbd_json("info", spec).get("flags", [])
    bad = [f for f in flags if "invalid" in f]
    if bad:
        die("%s: rbd info %s flags: %s" % (what, spec, ", ".join(flags)))

def check_object_map(spec):
    """rbd object-map check finds nothing (it exits 0 even when it finds
    errors: it logs them and invalidates the map) and no flag says invalid"""
    check_flags(spec, "before rbd object-map check")
    r = run(["rbd", "object-map", "check", "--no-progress", spec], timeout=120, check=False)
    out = (r.stdout + r.stderr).decode(errors="replace").strip()
    low = out.lower()
    if r.returncode != 0 or any(w in low for w in ("error", "invalid", "marked as", "should be")):
        die("rbd object-map check %s: exit %d: %s" % (spec, r.returncode, out))
    if out:
        print("   rbd object-map check %s said: %s" % (spec, out))
    check_flags(spec, "after rbd object-map check")

if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "owner":          # owner SPEC WHAT: prints entity address cookie
        print(*expect_owner(args[0], args[1]))
    elif cmd == "objmap":       # objmap SPEC...
        for s in args:
            check_object_map(s)
    elif cmd == "released":     # released SPEC WHAT
        expect_not_orphaned(args[0], args[1])
    else:
        die("unknown command " + cmd)
PY
el() { tmo 300 "$PY" "$TMP/elock.py" "$@"; }

rm_image() {  # snapshots (unprotected first) and image; retried while a dead watch times out
  local s
  for s in $(rbd snap ls --format json "$1" 2>/dev/null | "$PY" -c 'import json,sys; print(" ".join(x["name"] for x in json.load(sys.stdin)))' 2>/dev/null); do
    rbd snap unprotect "$1@$s" >/dev/null 2>&1 || true
  done
  rbd snap purge "$1" >/dev/null 2>&1 || true
  for _ in 1 2 3 4; do
    rbd rm --no-progress "$1" >/dev/null 2>&1 && return 0
    rbd info "$1" >/dev/null 2>&1 || return 0
    sleep 10
  done
  echo "warning: could not remove $1" >&2
}
expect_features() {  # expect_features SPEC [FEATURES]: Pacific's defaults (61) unless told
  local f want=${2:-layering,exclusive-lock,object-map,fast-diff,deep-flatten}
  f=$(rbd info --format json "$1" | "$PY" -c 'import json,sys; print(",".join(json.load(sys.stdin)["features"]))')
  expect_eq "$f" "$want" "features of $1"
}
# new_image VAR PREFIX [rbd create options]: a 64 MiB image with the default
# features, removed at exit (after the mounts are gone: open files hold watches)
new_image() {
  local var=$1 name
  name=$(uniq "$2")
  shift 2
  rbd create --size 64M "$@" "$P/$name" || fail "rbd create $P/$name"
  CLEANUP+=("umount_rbdfs '$M'; rm_image $P/$name")
  expect_features "$P/$name"
  printf -v "$var" %s "$name"
}
# took_over SECONDS LIMIT DEAD_ADDR WHAT: a takeover of a dead owner's lock
# was quick enough, and blocklisted the dead owner first (as librbd does)
took_over() {
  le "$1" "$2" || fail "$4: $1 s (allowed: $2 s)"
  ceph osd blocklist ls 2>/dev/null | contains -F "$3 " ||
    fail "$4: the dead owner $3 is not blocklisted (ceph osd blocklist ls: $(ceph osd blocklist ls 2>&1 | tr '\n' ' '))"
}
wait_file() {
  for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done
  fail "$1 did not show up in the mount within 10 s"
}
wait_ready() {  # wait_ready FILE PID: a helper process signals readiness
  for _ in $(seq 600); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || fail "the helper process died before it was ready"
    sleep 0.1
  done
  fail "the helper process was not ready within 60 s"
}

mount_rbdfs "$M" -p "$P" ${RBDFS_TEST_MOUNT_OPTS:-}
echo "   SEED=$SEED"

if wanted 1; then
step "1. rbdfs and librbd take turns writing one image, the mount's descriptor open throughout"
new_image A el1
wait_file "$M/$P/$A"
tmo 240 "$PY" - "$M/$P/$A" "$P/$A" "$SEED" <<'PY' || fail "step 1: rbdfs and librbd taking turns"
import os, random, sys, rbd
from elock import *
path, spec, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
pool, name = spec.split("/")
SIZE = 64 << 20
rnd = random.Random(seed)
model = bytearray(SIZE)
c = cluster()
io = c.open_ioctx(pool)
me = ("client.%d" % c.get_instance_id(), c.get_addrs())
fd = rbdfs_call("open(O_RDWR)", os.open, path, os.O_RDWR)
img = None          # librbd's handle when it keeps the image open into the next round
rbdfs_client = None

def extent():
    n = rnd.randrange(1, 256 << 10)
    return rnd.randrange(0, SIZE - n), n

for r in range(1, 6):
    # (a) rbdfs: a few writes at random offsets, fsync
    before = bytes(model)
    contended = img is not None
    mine = []
    for _ in range(3):
        off, n = extent()
        data = rnd.randbytes(n)
        rbdfs_pwrite("round %d: pwrite of %d bytes at %d" % (r, n, off), fd, data, off)
        model[off:off + n] = data
        mine.append((off, n))
    rbdfs_call("round %d: fsync" % r, os.fsync, fd)
    who = expect_owner(spec, "round %d: after the rbdfs write and fsync%s" %
                       (r, " (librbd held the lock and the image open)" if contended else ""),
                       not_addrs=[me[1]])
    if rbdfs_client is None:
        rbdfs_client = who[:2]
    elif who[:2] != rbdfs_client:
        die("round %d: rbdfs's lock is held as %s %s, in round 1 as %s %s" % (r, who[0], who[1], *rbdfs_client))
    if contended:
        img.close()
        img = None
    else:
        ws = watchers(spec)
        if len(ws) != 1:
            die("round %d: only the mount has the image open, watchers: %s" % (r, ws))
    expect_bytes("round %d: rbd export after the rbdfs write" % r, export(spec), model, before)
    expect_mount_sees(fd, model, "round %d: the mount's own write" % r, before=before, path=path)

    # (b) librbd: writes at other random offsets (one over the mount's first), flush
    before = bytes(model)
    if img is None:
        img = rbd.Image(io, name)
    exts = [extent(), extent()]
    off, n = mine[0]
    exts.append((off + n // 2, min(n, SIZE - off - n // 2)))
    for off, n in exts:
        data = rnd.randbytes(n)
        if img.write(data, off) != n:
            die("round %d: librbd wrote less than %d bytes at %d" % (r, n, off))
        model[off:off + n] = data
    img.flush()
    expect_owner(spec, "round %d: librbd after its write and flush" % r, want=me)
    # the lock owner reads through the object map: objects rbdfs wrote but did
    # not mark would read as zeros
    expect_bytes("round %d: librbd's read of the image (lock owner, so through the object map)" % r,
                 img.read(0, SIZE), model)
    if r % 2:
        img.close()     # rounds 1, 3, 5: released at close; 2, 4: rbdfs must ask for it
        img = None
    expect_bytes("round %d: rbd export after the librbd write" % r, export(spec), model, before)
    expect_mount_sees(fd, model, "round %d: librbd's write" % r, before=before, path=path)
    print("   round %d: ok (rbdfs holds the lock as %s %s%s)" % (r, who[0], who[1], ", taken from librbd" if contended else ""))
os.close(fd)
PY
el objmap "$P/$A" || fail "step 1: object map after the rounds"
el released "$P/$A" "step 1: after the last close" || fail "step 1: the lock after the last close"
fi

if wanted 2; then
step "2. fast-diff: rbd diff and du from the object map show exactly the objects rbdfs wrote, as for a librbd twin"
new_image D el2
new_image T el2twin
wait_file "$M/$P/$D"
tmo 240 "$PY" - "$M/$P/$D" "$P/$D" "$P/$T" <<'PY' || fail "step 2: fast-diff"
import os, sys, time, rbd
from elock import *
path, spec, twin = sys.argv[1:4]
pool, name = spec.split("/")
O = 4 << 20
c = cluster()
io = c.open_ioctx(pool)
fd = rbdfs_call("open(O_RDWR)", os.open, path, os.O_RDWR)   # open throughout, the snapshot included

def put(objs, at):
    """4 KiB at offset `at` of each object: through the mount (+fsync), and the same through librbd to the twin"""
    blobs = {o: os.urandom(4096) for o in objs}
    for o in objs:
        rbdfs_pwrite("pwrite to object %d" % o, fd, blobs[o], o * O + at)
    rbdfs_call("fsync", os.fsync, fd)
    img = rbd.Image(io, twin.split("/")[1])
    for o in objs:
        img.write(blobs[o], o * O + at)
    img.flush()
    img.close()

def objects(*args):
    """objects listed by rbd diff --whole-object (fast-diff: read from the object maps)"""
    d = rbd_json("diff", "--whole-object", *args)
    for e in d:
        if e["offset"] % O or e["length"] != O or e["exists"] != "true":
            die("rbd diff --whole-object %s: an entry that is not one whole existing object: %s" % (" ".join(args), e))
    return sorted(e["offset"] // O for e in d)

def exact_objects(*args):
    return sorted({e["offset"] // O for e in rbd_json("diff", *args)})

def used(spec):
    return {e.get("snapshot", "HEAD"): e["used_size"] for e in rbd_json("du", spec)["images"]}

def expect(what, got, want):
    if got != want:
        die("%s: %s, expected %s" % (what, got, want))

def twin_same(what, f, *args):
    a, b = f(*args, spec), f(*args, twin)
    if a != b:
        die("%s: rbdfs's image: %s; the librbd-written twin: %s" % (what, a, b))
    return a

put([0, 3, 7, 15], 0)
expect_owner(spec, "after the writes through the mount")
expect("rbd diff --whole-object (objects)", twin_same("rbd diff --whole-object", objects), [0, 3, 7, 15])
twin_same("rbd diff", lambda s: rbd_json("diff", s))
expect("rbd diff (objects)", exact_objects(spec), [0, 3, 7, 15])
expect("rbd du used_size", twin_same("rbd du", used), {"HEAD": 4 * O})
check_object_map(spec)

t0 = time.time()
run(["rbd", "snap", "create", spec + "@s1"], timeout=90)
dt = time.time() - t0
print("   rbd snap create while the mount holds the lock: %.1f s" % dt)
if dt > 60:
    die("rbd snap create took %.1f s (allowed: 60)" % dt)
run(["rbd", "snap", "create", twin + "@s1"])

put([2, 7], 64 << 10)
expect_owner(spec, "after the writes through the mount after the snapshot")
expect("rbd diff --whole-object --from-snap s1", twin_same("rbd diff --whole-object --from-snap s1", objects, "--from-snap", "s1"), [2, 7])
twin_same("rbd diff --from-snap s1", lambda s: rbd_json("diff", "--from-snap", "s1", s))
expect("rbd diff --from-snap s1 (objects)", exact_objects("--from-snap", "s1", spec), [2, 7])
expect("rbd diff --whole-object of the head", twin_same("rbd diff --whole-object (head)", objects), [0, 2, 3, 7, 15])
twin_same("rbd diff (head)", lambda s: rbd_json("diff", s))
a, b = objects(spec + "@s1"), objects(twin + "@s1")
expect("rbd diff --whole-object of @s1", a, [0, 3, 7, 15])
expect("rbd diff --whole-object of @s1, librbd twin", b, a)
expect("rbd du used_size", twin_same("rbd du", used), {"s1": 4 * O, "HEAD": 2 * O})
expect_bytes("rbd export of the head vs the twin's", export(spec), export(twin))
expect_bytes("rbd export of @s1 vs the twin's", export(spec + "@s1"), export(twin + "@s1"))
check_object_map(spec)
check_object_map(spec + "@s1")
os.close(fd)
PY
fi

if wanted 3; then
step "3. qemu-io and rbdfs take turns writing overlapping ranges, each reading back the other's"
new_image Q el3
wait_file "$M/$P/$Q"
tmo 240 "$PY" - "$M/$P/$Q" "$P/$Q" "$CEPH_CONF" <<'PY' || fail "step 3: qemu-io and rbdfs taking turns"
import os, sys
from elock import *
path, spec, conf = sys.argv[1:4]
SIZE, REG, K = 64 << 20, 12 << 20, 4096
qfile = "rbd:%s:conf=%s:id=admin" % (spec, conf)
model = bytearray(SIZE)
fd = rbdfs_call("open(O_RDWR)", os.open, path, os.O_RDWR)

def reads():
    """qemu-io reads of the region, one per run of one byte value (all writes are 4 KiB aligned)"""
    cmds, start = [], 0
    for i in range(K, REG + K, K):
        if i == REG or model[i] != model[start]:
            cmds.append("read -P 0x%02x %d %d" % (model[start], start, i - start))
            start = i
    return cmds

def qemu_io(cmds, what):
    args = ["qemu-io", "-f", "raw", qfile]
    for c in cmds:
        args += ["-c", c]
    r = run(args, timeout=90, check=False)
    out = (r.stdout + r.stderr).decode(errors="replace")
    if r.returncode != 0 or "verification failed" in out:
        die("%s: qemu-io exited %d\n  commands: %s\n  output: %s" % (what, r.returncode, cmds, out.strip()))

for r in range(1, 4):
    pr, pq = 0xa0 + r, 0xb0 + r
    ro, qo, n = r << 20, (r + 3) << 20, 5 << 20   # qemu's range covers rbdfs' last 2 MiB, the next rbdfs write qemu's first
    before = bytes(model)
    rbdfs_pwrite("round %d: pwrite" % r, fd, bytes([pr]) * n, ro)
    rbdfs_call("round %d: fsync" % r, os.fsync, fd)
    model[ro:ro + n] = bytes([pr]) * n
    expect_owner(spec, "round %d: after the rbdfs write" % r)
    # reads before qemu's write go to the objects; after it, qemu owns the lock
    # and librbd reads through the object map
    first = reads()
    model[qo:qo + n] = bytes([pq]) * n
    qemu_io(first + ["write -P 0x%02x %d %d" % (pq, qo, n)] + reads(),
            "round %d: qemu-io reads rbdfs' pattern 0x%02x at %d+%d, writes 0x%02x at %d+%d, reads all back" % (r, pr, ro, n, pq, qo, n))
    expect_mount_sees(fd, bytes(model[:REG]), "round %d: qemu-io's pattern 0x%02x" % (r, pq), before=before[:REG], path=path)
    print("   round %d: ok" % r)
expect_bytes("rbd export", export(spec), model)
os.close(fd)
check_object_map(spec)
PY
fi

if wanted 4; then
step "4. SIGKILL of the owner: librbd breaks a dead rbdfs, rbdfs breaks a dead librbd"
new_image K el4
M2=$TMP/mnt2
mount_rbdfs "$M2" -p "$P"
wait_file "$M2/$P/$K"
head -c $((8 * MiB)) /dev/urandom > "$TMP/k.rbdfs"
rm -f "$TMP/k.ready"
# the file stays open: the image stays open and locked in the second rbdfs
# (background scripts run from files: with a heredoc, $! would be a subshell)
cat > "$TMP/hold4.py" <<'PY'
import os, sys, time
from elock import *
path, src, ready = sys.argv[1:4]
fd = rbdfs_call("open(O_RDWR)", os.open, path, os.O_RDWR)
rbdfs_pwrite("pwrite of 8 MiB", fd, open(src, "rb").read(), 4 << 20)
rbdfs_call("fsync", os.fsync, fd)
open(ready, "w").write("ok\n")
time.sleep(280)
PY
"$PY" "$TMP/hold4.py" "$M2/$P/$K" "$TMP/k.rbdfs" "$TMP/k.ready" &
holder=$!
CLEANUP+=("kill -9 $holder 2>/dev/null")
wait_ready "$TMP/k.ready" "$holder"
own=$(el owner "$P/$K" "the second mount after its write and fsync") || fail "step 4: the second rbdfs does not hold the lock"
read -r ent addr _ <<<"$own"
CLEANUP+=("ceph osd blocklist rm $addr >/dev/null 2>&1")
pid=$(rbdfs_pid "$M2")
[ -n "$pid" ] || fail "cannot find the second rbdfs process"
t0=$(now)
kill -9 "$pid"
fusermount3 -uz "$M2" || fail "fusermount3 -uz of the killed mount"
kill -9 "$holder" 2>/dev/null; wait "$holder" 2>/dev/null || true
tmo 120 "$PY" - "$P/$K" "$TMP/k.librbd" <<'PY' || fail "step 4: librbd could not write after its rbdfs owner was SIGKILLed"
import os, sys, rbd
from elock import *
spec, out = sys.argv[1:3]
c = cluster()
img = rbd.Image(c.open_ioctx(spec.split("/")[0]), spec.split("/")[1])
data = os.urandom(1 << 20)
if img.write(data, 32 << 20) != len(data):
    die("short librbd write")
img.flush()
expect_owner(spec, "librbd after its write", want=("client.%d" % c.get_instance_id(), c.get_addrs()))
img.close()
open(out, "wb").write(data)
PY
t=$(since "$t0")
echo "   librbd took over from the SIGKILLed rbdfs ($ent $addr) in $t s"
# librbd waits for the dead watch to time out (osd_client_watch_timeout, 30 s):
# a SIGKILLed librbd owner measured 30.5 s on this cluster
took_over "$t" 45 "$addr" "librbd taking the lock of the SIGKILLed rbdfs"
rbd_export "$P/$K" "$TMP/k.rbd"
cmp <(dd if="$TMP/k.rbd" bs=1M skip=4 count=8 status=none) "$TMP/k.rbdfs" ||
  fail "the 8 MiB the killed rbdfs fsynced differ from rbd export"
cmp <(dd if="$TMP/k.rbd" bs=1M skip=32 count=1 status=none) "$TMP/k.librbd" || fail "librbd's write differs in rbd export"

# the reverse: a librbd owner SIGKILLed, rbdfs (the first mount) writes
rm -f "$TMP/r.ready"
cat > "$TMP/own4.py" <<'PY'
import os, sys, time, rbd
from elock import *
spec, ready, out = sys.argv[1:4]
c = cluster()
img = rbd.Image(c.open_ioctx(spec.split("/")[0]), spec.split("/")[1])
data = os.urandom(1 << 20)
img.write(data, 48 << 20)
img.flush()
open(out, "wb").write(data)
open(ready, "w").write("client.%d %s\n" % (c.get_instance_id(), c.get_addrs()))
time.sleep(280)
PY
"$PY" "$TMP/own4.py" "$P/$K" "$TMP/r.ready" "$TMP/r.librbd" &
lib=$!
CLEANUP+=("kill -9 $lib 2>/dev/null")
wait_ready "$TMP/r.ready" "$lib"
read -r lent laddr < "$TMP/r.ready"
CLEANUP+=("ceph osd blocklist rm $laddr >/dev/null 2>&1")
own=$(el owner "$P/$K" "the librbd process after its write") || fail "step 4: the librbd process does not hold the lock"
[[ "$own" == "$lent $laddr "* ]] || fail "step 4: lock held by $own, expected the librbd process $lent $laddr"
kill -9 "$lib"; wait "$lib" 2>/dev/null || true
t0=$(now)
tmo 90 "$PY" - "$M/$P/$K" "$P/$K" "$TMP/r.rbdfs" "$laddr" <<'PY' || fail "step 4: rbdfs writing (within 90 s) the image whose librbd owner was SIGKILLed"
import os, sys, time
from elock import *
path, spec, out, dead = sys.argv[1:5]
data = os.urandom(1 << 20)
t0 = time.time()
fd = rbdfs_call("open(O_RDWR)", os.open, path, os.O_RDWR)
rbdfs_pwrite("pwrite", fd, data, 56 << 20)
rbdfs_call("fsync", os.fsync, fd)
print("   pwrite and fsync returned after %.1f s" % (time.time() - t0))
expect_owner(spec, "rbdfs after breaking the dead librbd owner", not_addrs=[dead])
os.close(fd)
open(out, "wb").write(data)
PY
t=$(since "$t0")
echo "   rbdfs took over from the SIGKILLed librbd ($lent $laddr) in $t s"
took_over "$t" 60 "$laddr" "rbdfs taking the lock of the SIGKILLed librbd"
rbd_export "$P/$K" "$TMP/k2.rbd"
cmp <(dd if="$TMP/k2.rbd" bs=1M skip=4 count=8 status=none) "$TMP/k.rbdfs" || fail "the first rbdfs data differ after the takeover"
cmp <(dd if="$TMP/k2.rbd" bs=1M skip=32 count=1 status=none) "$TMP/k.librbd" || fail "the first librbd data differ after the takeover"
cmp <(dd if="$TMP/k2.rbd" bs=1M skip=48 count=1 status=none) "$TMP/r.librbd" || fail "the data the killed librbd flushed differ"
cmp <(dd if="$TMP/k2.rbd" bs=1M skip=56 count=1 status=none) "$TMP/r.rbdfs" || fail "rbdfs's write after the takeover differs in rbd export"
el objmap "$P/$K" || fail "step 4: object map after the takeovers"
el released "$P/$K" "step 4: after the last close" || fail "step 4: the lock after the last close"
fi

if wanted 5; then
step "5. a librbd client holding the lock in exclusive mode: rbdfs writes fail with EROFS, nothing changes"
new_image X el5
wait_file "$M/$P/$X"
head -c $((64 * MiB)) /dev/zero > "$TMP/x.model"
put5() {  # put5 OFFSET BYTES: write through the mount (fsync), and into the model
  head -c "$2" /dev/urandom > "$TMP/x.chunk"
  tmo 90 dd if="$TMP/x.chunk" of="$M/$P/$X" bs="$2" oflag=seek_bytes seek="$1" conv=notrunc,fsync status=none ||
    fail "step 5: a write through the mount at $1 failed while nobody held the lock"
  dd if="$TMP/x.chunk" of="$TMP/x.model" bs="$2" oflag=seek_bytes seek="$1" conv=notrunc status=none
}
put5 $((3 * MiB)) $((2 * MiB))     # rbdfs can write the image: the lock is free
rm -f "$TMP/x.ready" "$TMP/x.stop"
cat > "$TMP/hold5.py" <<'PY'
import os, sys, time, rbd
from elock import *
spec, ready, stop, model = sys.argv[1:5]
c = cluster()
img = rbd.Image(c.open_ioctx(spec.split("/")[0]), spec.split("/")[1])
img.lock_acquire(rbd.RBD_LOCK_MODE_EXCLUSIVE)   # refuses to hand the lock over
data = os.urandom(1 << 20)
img.write(data, 10 << 20)
img.flush()
with open(model, "r+b") as f:
    f.seek(10 << 20)
    f.write(data)
open(ready, "w").write("client.%d %s\n" % (c.get_instance_id(), c.get_addrs()))
t0 = time.time()
while not os.path.exists(stop):
    if time.time() - t0 > 280:
        die("never told to stop")
    time.sleep(0.1)
img.lock_release()
img.close()
PY
"$PY" "$TMP/hold5.py" "$P/$X" "$TMP/x.ready" "$TMP/x.stop" "$TMP/x.model" &
holder=$!
# told to stop first: killed, it would leave the lock to a dead owner
CLEANUP+=("touch '$TMP/x.stop'; sleep 1; kill -9 $holder 2>/dev/null")
wait_ready "$TMP/x.ready" "$holder"
read -r hent haddr < "$TMP/x.ready"
own=$(el owner "$P/$X" "the exclusive-mode librbd client") || fail "step 5: lock_acquire did not take the lock"
[[ "$own" == "$hent $haddr "* ]] || fail "step 5: lock held by $own, expected $hent $haddr"
before=$(rbd export --no-progress "$P/$X" - 2>/dev/null | sha256sum)
expect_eq "$before" "$(sha256sum < "$TMP/x.model")" "step 5: rbd export before the refused write"
t0=$(now)
tmo 90 "$PY" - "$M/$P/$X" <<'PY' || fail "step 5: the write through the mount was not refused with EROFS (within 90 s)"
import errno, os, sys, time
from elock import *
fd = rbdfs_call("open(O_RDWR) (the image is writable, only locked)", os.open, sys.argv[1], os.O_RDWR)
t0 = time.time()
where = "pwrite"
try:
    n = os.pwrite(fd, b"\x5a" * 65536, 20 << 20)
    if n != 65536:
        die("pwrite returned %d (of 65536) instead of failing with EROFS" % n)
    where = "fsync"
    os.fsync(fd)
except OSError as e:
    if e.errno != errno.EROFS:
        die("the write failed at %s with [Errno %d] %s, expected [Errno %d] %s" %
            (where, e.errno, e.strerror, errno.EROFS, os.strerror(errno.EROFS)))
    print("   refused at %s after %.1f s: [Errno %d] %s" % (where, time.time() - t0, e.errno, e.strerror))
    sys.exit(0)
die("pwrite and fsync through the mount succeeded while librbd holds the lock in exclusive mode")
PY
t=$(since "$t0")
le "$t" 60 || fail "step 5: the refusal took $t s (allowed: 60 s)"
own=$(el owner "$P/$X" "the exclusive-mode client after the refused write") || fail "step 5: the lock after the refused write"
[[ "$own" == "$hent $haddr "* ]] || fail "step 5: after the refused write the lock is held by $own, expected $hent $haddr"
ceph osd blocklist ls 2>/dev/null | contains -F "$haddr " && fail "step 5: rbdfs blocklisted the live exclusive-mode owner $haddr"
expect_eq "$(rbd export --no-progress "$P/$X" - 2>/dev/null | sha256sum)" "$before" "step 5: rbd export after the refused write"
touch "$TMP/x.stop"
wait "$holder" || fail "step 5: the exclusive-mode librbd client did not release and close cleanly"
put5 $((30 * MiB)) 65536           # once it is gone rbdfs writes again (and the refused write never lands)
cmp <(rbd export --no-progress "$P/$X" - 2>/dev/null) "$TMP/x.model" || fail "step 5: rbd export after the owner left"
el objmap "$P/$X" || fail "step 5: object map"
fi

if wanted 6; then
step "6. rbd snap create and resize from outside while rbdfs owns the lock, an unsynced write pending"
new_image S el6
wait_file "$M/$P/$S"
tmo 240 "$PY" - "$M/$P/$S" "$P/$S" "$M/$P/.snap/$S/outside" <<'PY' || fail "step 6: snapshot and resize from outside"
import os, sys, time
from elock import *
path, spec, snap_path = sys.argv[1:4]
SIZE, NEW = 64 << 20, 96 << 20
model = bytearray(SIZE)
fd = rbdfs_call("open(O_RDWR)", os.open, path, os.O_RDWR)
def put(off, n, sync):
    data = os.urandom(n)
    rbdfs_pwrite("pwrite of %d bytes at %d" % (n, off), fd, data, off)
    if sync:
        rbdfs_call("fsync", os.fsync, fd)
    model[off:off + n] = data
put((4 << 20) - 1000, (1 << 20) + 123, True)    # A, across an object boundary, fsynced
expect_owner(spec, "after the fsynced write")
put((10 << 20) + 77, 512 << 10, False)          # B: acknowledged, not synced

def timed(args, what):
    t0 = time.time()
    run(args, timeout=90)
    dt = time.time() - t0
    print("   %s from outside: %.1f s" % (what, dt))
    if dt > 60:
        die("%s took %.1f s (allowed: 60)" % (what, dt))
timed(["rbd", "snap", "create", spec + "@outside"], "rbd snap create")
expect_bytes("rbd export of @outside (must hold A and the unsynced B)", export(spec + "@outside"), model)
t0 = time.time()
while not os.path.exists(snap_path):
    if time.time() - t0 > 10:
        die("%s did not show up within 10 s" % snap_path)
    time.sleep(0.2)
with open(snap_path, "rb") as f:
    expect_bytes("the snapshot read through the mount", f.read(), model)
expect_bytes("rbd export of the head", export(spec), model)

timed(["rbd", "resize", "--no-progress", "--size", "96M", spec], "rbd resize to 96M")
t0 = time.time()
while os.stat(path).st_size != NEW:
    if time.time() - t0 > 10:
        die("st_size through the mount is %d 10 s after rbd resize to %d" % (os.stat(path).st_size, NEW))
    time.sleep(0.2)
model += bytes(NEW - SIZE)
put((80 << 20) + 5, 300000, True)               # past the old end
expect_owner(spec, "after the write past the old end")
size = rbd_json("info", spec)["size"]
if size != NEW:
    die("rbd info size after a write inside the resized image: %d, expected %d" % (size, NEW))
expect_bytes("rbd export after the resize and the write past the old end", export(spec), model)
os.close(fd)
check_object_map(spec)
check_object_map(spec + "@outside")
PY
fi

if wanted 7; then
step "7. the parent of a clone (feature operations) written through the mount"
PA=$(uniq el7parent)
CH=$PA-child
head -c $((12 * MiB)) /dev/urandom > "$TMP/pa.seed"
rbd import --no-progress "$TMP/pa.seed" "$P/$PA" >/dev/null || fail "rbd import of the parent"
CLEANUP+=("umount_rbdfs '$M'; rm_image $P/$PA")
expect_features "$P/$PA"
rbd snap create "$P/$PA@s" >/dev/null 2>&1 || fail "rbd snap create of the parent"
rbd snap protect "$P/$PA@s" || fail "rbd snap protect"
# clone v2 (this cluster's min compat client would give v1, which does not
# mark the parent)
rbd clone --rbd-default-clone-format 2 "$P/$PA@s" "$P/$CH" || fail "rbd clone"
CLEANUP+=("rbd rm --no-progress $P/$CH >/dev/null 2>&1")
expect_features "$P/$PA" layering,exclusive-lock,object-map,fast-diff,deep-flatten,operations
expect_eq "$(rbd info --format json "$P/$PA" | "$PY" -c 'import json,sys; print(",".join(json.load(sys.stdin)["op_features"]))')" \
  clone-parent "op_features of the parent"
wait_file "$M/$P/$PA"
tmo 120 "$PY" - "$M/$P/$PA" "$P/$PA" "$TMP/pa.seed" "$P/$CH" <<'PY' || fail "step 7: writing the parent of a clone"
import os, sys
from elock import *
path, spec, seed, child = sys.argv[1:5]
base = open(seed, "rb").read()
model = bytearray(base)
fd = rbdfs_call("open(O_RDWR)", os.open, path, os.O_RDWR)
for off, n in (((4 << 20) - 4096, 1 << 20), ((9 << 20) + 1, 4000)):
    data = os.urandom(n)
    rbdfs_pwrite("pwrite of %d bytes at %d" % (n, off), fd, data, off)
    model[off:off + n] = data
rbdfs_call("fsync", os.fsync, fd)
expect_owner(spec, "after the write to the parent")
expect_mount_sees(fd, bytes(model), "the parent read back through the mount", path=path)
os.close(fd)
expect_bytes("rbd export of the parent", export(spec), model)
expect_bytes("rbd export of the parent's snapshot (cloned from)", export(spec + "@s"), base)
expect_bytes("rbd export of the clone", export(child), base)
check_object_map(spec)
check_object_map(spec + "@s")
PY
fi

if wanted 8; then
step "8. rbdfs blocklisted while it owns the lock: writes fail with ESHUTDOWN, the log says why, the open descriptor stays fenced, new opens write (new client instance, no remount)"
new_image B el8
M3=$TMP/mnt3
mount_rbdfs "$M3" -p "$P" --log-file "$TMP/m3.log"
wait_file "$M3/$P/$B"
rm -f "$TMP/b.ready" "$TMP/b.go" "$TMP/b.refused"
cat > "$TMP/hold8.py" <<'PY'
import errno, os, sys, time
from elock import *
path, ready, go, refused = sys.argv[1:5]
fd = rbdfs_call("open(O_RDWR)", os.open, path, os.O_RDWR)
rbdfs_pwrite("pwrite before the blocklist", fd, b"a" * 65536, 0)
rbdfs_call("fsync", os.fsync, fd)
open(ready, "w").write("ok\n")
for _ in range(600):
    if os.path.exists(go):
        break
    time.sleep(0.1)
try:
    os.pwrite(fd, b"b" * 65536, 1 << 20)
    os.fsync(fd)
    die("a write of a blocklisted rbdfs succeeded")
except OSError as e:
    if e.errno != errno.ESHUTDOWN:
        die("a write of a blocklisted rbdfs failed with %s, expected ESHUTDOWN" % e)
    print("   refused: %s" % e)
open(refused, "w").write("ok\n")
# the descriptor stays fenced: another client may own the image now
fails_with("pwrite through the fenced descriptor", (errno.ESHUTDOWN,), os.pwrite, fd, b"c" * 65536, 1 << 20)
fails_with("fsync of the fenced descriptor", (errno.ESHUTDOWN,), os.fsync, fd)
fails_with("ftruncate of the fenced descriptor", (errno.ESHUTDOWN,), os.ftruncate, fd, 128 << 20)
# (the kernel may report a failed read as EIO)
read_errno = fails_with("a read through the fenced descriptor", (errno.ESHUTDOWN, errno.EIO), os.pread, fd, 4096, 32 << 20)
print("   the descriptor open at the blocklist stays fenced: pwrite, fsync, ftruncate fail with ESHUTDOWN, pread with %s" % read_errno)
# a new open writes, at once
t0 = time.monotonic()
fd2 = rbdfs_call("open again", os.open, path, os.O_RDWR)
rbdfs_pwrite("pwrite through a new descriptor", fd2, b"d" * 65536, 2 << 20)
rbdfs_call("fsync of the new descriptor", os.fsync, fd2)
print("   a new descriptor wrote and synced in %.1f s" % (time.monotonic() - t0))
open(refused + ".recovered", "w").write("ok\n")
for _ in range(600):  # the lock is looked at while the files are open
    if os.path.exists(refused + ".finish"):
        break
    time.sleep(0.1)
os.close(fd2)
fails_with("closing the fenced descriptor", (errno.ESHUTDOWN,), os.close, fd)
PY
rm -f "$TMP/b.refused.recovered" "$TMP/b.refused.finish"
tmo 120 "$PY" "$TMP/hold8.py" "$M3/$P/$B" "$TMP/b.ready" "$TMP/b.go" "$TMP/b.refused" &
holder=$!
CLEANUP+=("kill -9 $holder 2>/dev/null")
wait_ready "$TMP/b.ready" "$holder"
own=$(el owner "$P/$B" "the third mount after its write and fsync") || fail "step 8: rbdfs does not hold the lock"
read -r ent addr _ <<<"$own"
CLEANUP+=("ceph osd blocklist rm $addr >/dev/null 2>&1")
blocklist_add "$addr"
touch "$TMP/b.go"
wait_ready "$TMP/b.refused.recovered" "$holder"
[ -s "$TMP/b.refused" ] || fail "step 8: no write was refused"
contains "was blocklisted by another client" <"$TMP/m3.log" || fail "step 8: the log does not say rbdfs was blocklisted: $(cat "$TMP/m3.log")"
contains "connected again as" <"$TMP/m3.log" || fail "step 8: the log does not say rbdfs connected again: $(cat "$TMP/m3.log")"
contains "fails with ESHUTDOWN until it is closed" <"$TMP/m3.log" || fail "step 8: the log does not say the open descriptor is fenced: $(cat "$TMP/m3.log")"
own2=$(el owner "$P/$B" "the third mount after it connected again") || fail "step 8: rbdfs does not hold the lock after connecting again"
read -r ent2 addr2 _ <<<"$own2"
[ "$addr2" != "$addr" ] || fail "step 8: the lock owner is still the blocklisted instance $addr"
echo "   lock owner now $ent2 $addr2 (was $ent $addr)"
# every request slot still answers once the old instance is replaced
# (over io_uring no entry may be lost: user.rbdfs.fuse counts them)
tmo 60 fio --name=after --filename="$M3/$P/$B" --rw=randread --bs=4k --iodepth=64 --direct=1 \
  --ioengine=libaio --size=2M --runtime=2 --time_based --output=/dev/null ||
  fail "step 8: reads at depth after connecting again failed or hung"
how=$(getfattr --absolute-names --only-values -n user.rbdfs.fuse "$M3" 2>/dev/null || true)
echo "   then 2 s of 4K reads at depth 64: ok ($how)"
[[ -z $how || $how == *" lost=0 "* ]] || fail "step 8: ring entries lost: $how"
touch "$TMP/b.refused.finish"
wait "$holder" || fail "step 8: the helper failed after recovering"
# the cleanest view of what landed: the mount's last descriptor closed
umount_rbdfs "$M3"
for _ in $(seq 100); do pgrep -f -- "$RBDFS ceph $M3 " >/dev/null || break; sleep 0.1; done
pgrep -f -- "$RBDFS ceph $M3 " >/dev/null && fail "step 8: rbdfs did not exit after its unmount"
ceph osd blocklist rm "$addr" >/dev/null 2>&1
rbd export --no-progress "$P/$B" "$TMP/b.export" >/dev/null 2>&1 || fail "step 8: rbd export"
want8() { head -c 65536 /dev/zero | tr '\0' a; head -c $((2 * MiB - 65536)) /dev/zero
          head -c 65536 /dev/zero | tr '\0' d; }
cmp -n $((2 * MiB + 65536)) "$TMP/b.export" <(want8) ||
  fail "step 8: the image is not what was written: $(cmp -n $((2 * MiB + 65536)) "$TMP/b.export" <(want8) 2>&1; od -A d -c "$TMP/b.export" | head -8)"
el objmap "$P/$B" || fail "step 8: object map"
fi

if wanted 9; then
step "9. rbdfs blocklisted with nothing open, then with an idle writable descriptor: the first new opens after it (ls -l, dd into an image, a second descriptor of the idle one) work at once; the idle descriptor is fenced"
new_image G el9g
new_image H el9h
M4=$TMP/mnt4
mount_rbdfs "$M4" -p "$P" --log-file "$TMP/m4.log"
wait_file "$M4/$P/$G"
client9() {  # the mount's client instance: address=... blocklisted=...
  getfattr --absolute-names --only-values -n user.rbdfs.client "$M4" 2>/dev/null ||
    fail "step 9: no user.rbdfs.client on the mount's root"
}
field9() { tr ' ' '\n' | sed -n "s/^$1=//p"; }
# blocklisted: a listing, a new open and a write, each at the first attempt
first_ops9() {  # first_ops9 WHAT BYTE
  local t0; t0=$(now)
  tmo 30 ls -l "$M4/$P" >"$TMP/ls9" 2>&1 || fail "step 9 ($1): ls -l of the pool after the blocklist: $(cat "$TMP/ls9")"
  contains -F " $H" <"$TMP/ls9" || fail "step 9 ($1): ls -l does not list $H: $(cat "$TMP/ls9")"
  head -c 65536 /dev/zero | tr '\0' "$2" >"$TMP/h9"
  tmo 30 dd if="$TMP/h9" of="$M4/$P/$H" bs=64k conv=notrunc,fsync status=none 2>"$TMP/dd9" ||
    fail "step 9 ($1): dd into $H after the blocklist: $(cat "$TMP/dd9")"
  echo "   $1: ls -l and dd into $H worked at the first attempt ($(echo "$(now) - $t0" | bc) s)"
}

# a) nothing open: only the new code path can notice the blocklisting
c=$(client9)
addr=$(field9 address <<<"$c")
[ -n "$addr" ] && [ "$(field9 blocklisted <<<"$c")" = no ] || fail "step 9: user.rbdfs.client: $c"
CLEANUP+=("ceph osd blocklist rm $addr >/dev/null 2>&1")
blocklist_add "$addr"
first_ops9 "nothing open" h
contains "was blocklisted by another client" <"$TMP/m4.log" || fail "step 9: the log does not say rbdfs was blocklisted: $(cat "$TMP/m4.log")"
contains "connected again as" <"$TMP/m4.log" || fail "step 9: the log does not say rbdfs connected again: $(cat "$TMP/m4.log")"
c=$(client9)
[ "$(field9 address <<<"$c")" != "$addr" ] && [ "$(field9 blocklisted <<<"$c")" = no ] ||
  fail "step 9: still the blocklisted instance after connecting again: $c (was $addr)"
ceph osd blocklist rm "$addr" >/dev/null 2>&1

# b) a descriptor opened for writing, idle through the blocklisting
rm -f "$TMP/g.ready" "$TMP/g.go"
cat > "$TMP/hold9.py" <<'PY'
import errno, os, sys, time
from elock import *
path, ready, go = sys.argv[1:4]
fd = rbdfs_call("open(O_RDWR)", os.open, path, os.O_RDWR)
rbdfs_pwrite("pwrite before the blocklist", fd, b"a" * 65536, 0)
rbdfs_call("fsync", os.fsync, fd)
open(ready, "w").write("ok\n")
for _ in range(900):  # idle until the new opens are done
    if os.path.exists(go):
        break
    time.sleep(0.1)
# opened for writing before the blocklist: fenced
fails_with("a write through the idle descriptor opened before the blocklist", (errno.ESHUTDOWN,), os.pwrite, fd, b"x" * 4096, 0)
fails_with("closing the fenced idle descriptor", (errno.ESHUTDOWN,), os.close, fd)
PY
tmo 150 "$PY" "$TMP/hold9.py" "$M4/$P/$G" "$TMP/g.ready" "$TMP/g.go" &
holder=$!
CLEANUP+=("kill -9 $holder 2>/dev/null")
wait_ready "$TMP/g.ready" "$holder"
own=$(el owner "$P/$G" "the fourth mount after its write and fsync") || fail "step 9: rbdfs does not hold the lock"
read -r ent addr _ <<<"$own"
[ "$addr" = "$(field9 address <<<"$(client9)")" ] || fail "step 9: lock owner $addr, user.rbdfs.client $(client9)"
CLEANUP+=("ceph osd blocklist rm $addr >/dev/null 2>&1")
blocklist_add "$addr"
first_ops9 "an idle writable descriptor" i
tmo 30 "$PY" - "$M4/$P/$G" <<'PY' || fail "step 9: a second descriptor of the idle image after the blocklist"
import os, sys
from elock import *
fd = rbdfs_call("open(O_RDWR) of the idle image", os.open, sys.argv[1], os.O_RDWR)
got = os.pread(fd, 65536, 0)
if got != b"a" * 65536:
    die("the new descriptor reads %r..., expected what was written before the blocklist" % got[:16])
rbdfs_pwrite("pwrite through the new descriptor", fd, b"e" * 65536, 1 << 20)
rbdfs_call("fsync of the new descriptor", os.fsync, fd)
os.close(fd)
PY
echo "   and a new descriptor of $G wrote at the first attempt; the idle one is fenced"
touch "$TMP/g.go"
wait "$holder" || fail "step 9: the idle descriptor's holder failed"
contains "fails with ESHUTDOWN until it is closed" <"$TMP/m4.log" || fail "step 9: the log does not say the idle descriptor is fenced: $(cat "$TMP/m4.log")"
ceph osd blocklist rm "$addr" >/dev/null 2>&1

# c) a read-only descriptor (O_DIRECT: past the page cache), idle through
# the blocklisting: its first read after it is the mount's first operation
rm -f "$TMP/r.ready" "$TMP/r.go"
cat > "$TMP/read9.py" <<'PY'
import mmap, os, sys, time
from elock import *
path, ready, go = sys.argv[1:4]
fd = rbdfs_call("open(O_RDONLY|O_DIRECT)", os.open, path, os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 65536)  # page-aligned, as O_DIRECT wants
rbdfs_call("a read before the blocklist", os.preadv, fd, [buf], 0)
open(ready, "w").write("ok\n")
for _ in range(900):
    if os.path.exists(go):
        break
    time.sleep(0.1)
# eight reads at once (as readahead and async direct I/O have): all meet
# the description while it moves to the new instance
import threading
t0 = time.monotonic()
bufs = [mmap.mmap(-1, 65536) for _ in range(8)]
errors = []
def read(i):
    try:
        n = os.preadv(fd, [bufs[i]], (1 << 20) + i * 65536)
        want = (b"e" if i == 0 else b"\0") * 65536
        if n != 65536 or bufs[i][:] != want:
            errors.append("read %d: %d bytes %r..." % (i, n, bufs[i][:16]))
    except OSError as e:
        errors.append("read %d: %s" % (i, e))
threads = [threading.Thread(target=read, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    die("the first reads after the blocklist through a read-only descriptor: %s" % "; ".join(errors))
print("   c) eight reads at once through a read-only descriptor worked at the first attempt (%.2f s)" % (time.monotonic() - t0))
os.close(fd)
PY
tmo 150 "$PY" "$TMP/read9.py" "$M4/$P/$G" "$TMP/r.ready" "$TMP/r.go" &
reader=$!
CLEANUP+=("kill -9 $reader 2>/dev/null")
wait_ready "$TMP/r.ready" "$reader"
addr=$(field9 address <<<"$(client9)")
CLEANUP+=("ceph osd blocklist rm $addr >/dev/null 2>&1")
blocklist_add "$addr"
touch "$TMP/r.go"
wait "$reader" || fail "step 9: a read-only descriptor open through the blocklisting"
[ "$(field9 address <<<"$(client9)")" != "$addr" ] || fail "step 9 (c): still on the blocklisted instance $addr"
umount_rbdfs "$M4"
for _ in $(seq 100); do pgrep -f -- "$RBDFS ceph $M4 " >/dev/null || break; sleep 0.1; done
ceph osd blocklist rm "$addr" >/dev/null 2>&1
rbd export --no-progress "$P/$H" "$TMP/h9.export" >/dev/null 2>&1 || fail "step 9: rbd export $H"
cmp -n 65536 "$TMP/h9.export" "$TMP/h9" || fail "step 9: $H is not what dd wrote last"
rbd export --no-progress "$P/$G" "$TMP/g9.export" >/dev/null 2>&1 || fail "step 9: rbd export $G"
want9() { head -c 65536 /dev/zero | tr '\0' a; head -c $((MiB - 65536)) /dev/zero
          head -c 65536 /dev/zero | tr '\0' e; }
cmp -n $((MiB + 65536)) "$TMP/g9.export" <(want9) || fail "step 9: $G is not what was written"
el objmap "$P/$G" || fail "step 9: object map of $G"
el objmap "$P/$H" || fail "step 9: object map of $H"
fi

pass "exclusive lock"
