#!/bin/bash
# The benchmark harness (tools/bench.py) in a tiny configuration against the
# test cluster: every row measured for every target, the table, JSON and
# chart written, the RSS bound checked, and nothing it started left behind.
# Speed itself is never asserted here: tools/bench measures it.
. "$(dirname "$0")/lib.sh"
need_conf
scratch
OUT=$TMP/bench-out
# the bench makes its mountpoints in a temporary directory under $TMPDIR:
# give it one of its own, to find what it leaves (other tests mount too)
BT=$TMP/bench-tmp
mkdir -p "$BT"
# (no waiting for a quiet machine: other tests run beside this one)
step "tools/bench.py runs: 1 run, 1 s per fio job, 32 MiB images, 20 images to list"
URING_BEFORE=$(cat /sys/module/fuse/parameters/enable_uring 2>/dev/null || true)
TMPDIR=$BT /usr/bin/python3 "$SRC/tools/bench.py" --rbdfs "$RBDFS" --repo "$SRC" --conf "$CEPH_CONF" \
  --runs 1 --pairs 2 --runtime 1 --size-mb 32 --images 20 --memory-images 30 --rss-secs 3 \
  --settle-secs 0 --out "$OUT" >"$TMP/bench.txt" 2>&1 ||
  { tail -30 "$TMP/bench.txt" >&2; fail "tools/bench.py failed"; }

step "the table has every row, with figures for rbdfs, librbd, qemu-storage-daemon's FUSE export and rbd-fuse"
for row in "seq write 4M qd16" "seq read 4M qd16" "rand write 4K qd32" "rand read 4K qd32" \
  "rand write 4K qd1" "rand read 4K qd1" \
  "dd write 4M buffered+fsync" "cp read (cold)" "cp file in (new image)" \
  "qemu-img convert in (new image)" "ls -l 20 images (10 GiB, default features)" \
  "seq write 4M qd16 [default features]" "rand write 4K qd32 [default features]" \
  "dd write 4M buffered+fsync [default features]" "clone rand read 4K qd32 (from the parent)" \
  "clone write 4K qd32 (a copy-up each)" "copy 32 MiB image (full)" \
  "copy 320 MiB image holding 32 MiB"; do
  contains -F "| $row |" <"$OUT/results.md" || fail "row '$row' missing from results.md"
done
/usr/bin/python3 - "$OUT/results.json" <<'PY' || fail "results.json incomplete"
import json, os, sys
j = json.load(open(sys.argv[1]))
for row in ("seq write 4M qd16", "seq read 4M qd16", "rand write 4K qd32", "rand read 4K qd32",
            "rand write 4K qd1", "rand read 4K qd1"):
    for t in ("rbdfs", "librbd", "qsd-fuse", "rbd-fuse"):
        v = j["results"][row][t]
        assert len(v) == 1 and v[0] > 0, (row, t, v)
for row in ("dd write 4M buffered+fsync", "cp read (cold)"):
    for t in ("rbdfs", "qsd-fuse", "rbd-fuse"):
        assert j["results"][row][t][0] > 0, (row, t)
for row in ("copy 32 MiB image (full)", "copy 320 MiB image holding 32 MiB",
            "copy 32 MiB image (full) [vs rbd deep cp]", "copy 32 MiB image (full) [qemu-img convert -C]",
            "copy 320 MiB image holding 32 MiB [qemu-img convert -C]"):
    for t in ("rbdfs", "librbd"):
        assert j["results"][row][t][0] > 0, (row, t)
for row in ("cp file in (new image)", "qemu-img convert in (new image)"):
    for t in ("rbdfs", "librbd"):
        assert j["results"][row][t][0] > 0, (row, t)
assert j["results"]["ls -l 20 images (10 GiB, default features)"]["rbdfs"][0] > 0
for row in ("clone rand read 4K qd32 (from the parent)", "clone write 4K qd32 (a copy-up each)"):
    for t in ("rbdfs", "librbd", "qsd-fuse"):
        assert j["results"][row][t][0] > 0, (row, t)
for row in ("seq write 4M qd16 [default features]", "rand write 4K qd32 [default features]"):
    for t in ("rbdfs", "librbd", "qsd-fuse"):
        assert j["results"][row][t][0] > 0, (row, t)
notes = " ".join(j["notes"])
assert "against layering-only images, same workload, paired runs (2 pairs;" in notes, notes
assert "min-max): seq write 4M qd16" in notes, notes
for row in ("seq write 4M qd16 [default features]", "rand write 4K qd32 [default features]",
            "dd write 4M buffered+fsync [default features]"):
    assert len(j["results"][row]["rbdfs"]) == 2, (row, j["results"][row])
    assert len(j["results"][row]["librbd"]) == 1, (row, j["results"][row])
assert "per GiB moved" in notes, notes
assert "copy bound: librbd's best sequential write" in notes, notes
assert "stated bound 256 MiB: holds" in notes, notes   # memory, not speed: it may be asserted
assert "memory with 30 images" in notes and "idle 3 s later: open=0 " in notes, notes
# where the kernel has FUSE over io_uring, the fio rows run over it too (a
# second mount) and the notes give them beside rbdfs' own, /dev/fuse
if os.access("/sys/module/fuse/parameters/enable_uring", os.W_OK):
    assert "rbdfs over FUSE io_uring (--io-uring), a second mount" in notes, notes
    assert "rand read 4K qd1 " in notes and "/dev/fuse " in notes, notes
else:
    assert "no FUSE over io_uring here" in notes or "the kernel refused FUSE over io_uring" in notes, notes
PY
if [ -w /sys/module/fuse/parameters/enable_uring ]; then
  contains -F "Targets: rbdfs (/dev/fuse; the fio rows also over io_uring, in the notes);" <"$OUT/results.md" ||
    fail "results.md does not say which transport rbdfs ran over"
  expect_eq "$(cat /sys/module/fuse/parameters/enable_uring)" "$URING_BEFORE" "enable_uring after the bench"
fi
contains -F "| rbdfs/librbd | rbdfs/qsd-fuse | rbdfs/rbd-fuse | best |" <"$OUT/results.md" ||
  fail "no ratio or winner columns"
contains "^Machine: .*cores" <"$OUT/results.md" || fail "results.md does not state the machine"
expect_eq "$(head -c 4 "$OUT/chart.png" | od -An -c | tr -d ' ')" "211PNG" "chart.png is a PNG"
contains -F "| seq read 4M qd16 |" <"$TMP/bench.txt" || fail "the table was not printed"

step "it stopped what it started"
awk -v d="$BT/" 'index($2, d) == 1 { print "left mounted: " $2; f = 1 } END { exit f }' /proc/mounts ||
  fail "the bench left a mount behind"
# rbd-fuse exits shortly after its unmount returns
for _ in $(seq 1 50); do pgrep -f -- "rbd-fuse .*$BT/" >/dev/null || break; sleep 0.2; done
pgrep -af -- "rbd-fuse .*$BT/" && fail "the bench left rbd-fuse running"
pgrep -af -- "fuse/rbdfs ceph $BT/" && fail "the bench left rbdfs running"
pgrep -af -- "qemu-storage-daemon .*$BT/" && fail "the bench left qemu-storage-daemon running"
expect_eq "$(ls -A "$BT")" "" "the bench's temporary directory is removed"
pass "bench harness"
