#!/bin/bash
# Faults: nothing acknowledged is lost, nothing hangs past a stated bound.
#  1. The monitor dies during I/O and comes back 20 s later: a writer
#     through the mount (pwrite + fsync) goes on or stalls, never fails;
#     `ls`, `stat` and reads of the open image answer while the monitor is
#     down; afterwards the mount creates, writes and snapshots images as before.
#     (First, on a settled cluster: right after OSD restarts a client may
#     need a newer OSD map, which only the monitor gives, and librbd too
#     would then stall for the monitor's whole absence.)
#  2. OSDs die under the exerciser: seeded exerciser runs through the mount,
#     two at a time, on images in a pool of size 2 (min_size 1) while one of
#     the three OSDs is SIGKILLed every 20-30 s and started again 3-6 s later.
#     Every check equals the model and `rbd export`; an operation that takes
#     longer than OP_BOUND (60 s) fails the run as a hang.
#  3. rbdfs SIGKILLed in the middle of a write stream on a default-features
#     image that it holds the lock of: a remount writes the image, then
#     librbd does, and every byte fsynced before the kill is in `rbd export`.
#     The remount knows at once that the killed rbdfs is gone (bound: 10 s;
#     measured 1 s) instead of waiting 30 s for its watch to time out.
# (rbdfs blocklisted by another client: test_exclusive_lock step 8.)
#
# RBDFS_FAULTS_SECONDS (default 120) is how long step 2 starts new runs; a
# soak: RBDFS_FAULTS_SECONDS=600. RBDFS_FAULTS_STEPS (default "1 2 3").
# The test kills and starts daemons of the test cluster, so CTest runs it
# alone (RUN_SERIAL); it starts again whatever it killed, even on failure.
. "$(dirname "$0")/lib.sh"
need_conf
scratch
PY=/usr/bin/python3
CC=$SRC/tools/ceph-cluster
CDIR=$(dirname "$CEPH_CONF")
[ -f "$CDIR/cluster.env" ] || fail "$CDIR is not a tools/ceph-cluster cluster (no cluster.env)"
. "$CDIR/cluster.env"
[ "$CLUSTER_OSDS" -ge 3 ] || fail "the cluster has $CLUSTER_OSDS OSDs; this test needs 3 (tools/ceph-cluster start --osds 3)"
EX=$BUILD/tools/rbdfs-exercise
[ -x "$EX" ] || fail "$EX is not built"
FAULT_SECONDS=${RBDFS_FAULTS_SECONDS:-120}
STEPS=${RBDFS_FAULTS_STEPS:-"1 2 3"}
OP_BOUND=60
MiB=1048576
wanted() { [[ " $STEPS " == *" $1 "* ]]; }

# whatever happens, every daemon runs again at the end
revive_all() {
  local d
  for d in mon.a mgr.x $(seq -f 'osd.%g' 0 $((CLUSTER_OSDS - 1))); do
    "$CC" revive "$d" --dir "$CDIR" >/dev/null 2>&1 || echo "   could not start $d again" >&2
  done
}
# first of all at exit (CLEANUP runs after it: its ceph commands need the
# monitor), then the rest
trap 'revive_all; run_cleanup' EXIT
# the cluster settles (every PG active+clean) before the next test
wait_clean() {
  local deadline=$((SECONDS + ${1:-120})) st
  while :; do
    st=$(ceph pg stat 2>/dev/null) || st=""
    if [[ "$st" =~ ([0-9]+)\ pgs:\ ([0-9]+)\ active\+clean\; ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]; then
      return 0
    fi
    [ $SECONDS -lt $deadline ] || { echo "   not clean: $st" >&2; return 1; }
    sleep 1
  done
}

# recovery at full speed (the OSDs take their files for disks: 0.1 s of sleep
# per recovery op), so the cluster is clean soon after the last kill
for o in osd_recovery_sleep_hdd osd_recovery_sleep_hybrid; do
  ceph config set osd "$o" 0 >/dev/null 2>&1 || fail "ceph config set osd $o 0"
  CLEANUP+=("ceph --connect-timeout 10 config rm osd $o >/dev/null 2>&1")
done
P=$(uniq flt)
new_rbd_pool "$P"
ceph osd pool set "$P" size 2 >/dev/null 2>&1 || fail "ceph osd pool set $P size 2"
ceph osd pool set "$P" min_size 1 >/dev/null 2>&1 || fail "ceph osd pool set $P min_size 1"
wait_clean || fail "the new pool $P did not become clean"
M=$TMP/mnt
# rbdfs' admin socket (objecter requests in flight, if anything hangs)
cp "$CEPH_CONF" "$TMP/ceph.conf"
printf '\n[client.admin]\n\tadmin socket = %s\n' "$TMP/rbdfs.asok" >>"$TMP/ceph.conf"
CEPH_CONF=$TMP/ceph.conf mount_rbdfs "$M" --log-file "$TMP/rbdfs.log"
for _ in $(seq 50); do [ -d "$M/$P" ] && break; sleep 0.2; done
[ -d "$M/$P" ] || fail "the pool $P does not show in the mount"

if wanted 1; then
step "1. the monitor SIGKILLed during I/O, started again 20 s later"
MI=mon-img
rbd create --size 64M "$P/$MI" || fail "rbd create $P/$MI"
for _ in $(seq 50); do [ -e "$M/$P/$MI" ] && break; sleep 0.2; done
head -c $((48 * MiB)) /dev/urandom >"$TMP/mon.src"
cat >"$TMP/writer.py" <<'PY'
# writer PATH SRC SECONDS REPORT: 1 MiB pwrites of SRC, in turn, wrapping,
# fsync after every 4; the model of the image is written to REPORT.model
import os, sys, time
path, src, secs, report = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
data = open(src, "rb").read()
chunk = 1 << 20
n = len(data) // chunk
fd = os.open(path, os.O_RDWR)
model = bytearray(64 << 20)
t0 = time.monotonic()
worst = 0.0
i = 0
while time.monotonic() - t0 < secs:
    k = (i * 7) % n  # every chunk in turn, not sequential
    piece = data[k * chunk:(k + 1) * chunk]
    off = ((i * 5) % 64) * chunk
    t = time.monotonic()
    os.pwrite(fd, piece, off)
    if i % 4 == 3:
        os.fsync(fd)
    worst = max(worst, time.monotonic() - t)
    model[off:off + chunk] = piece
    i += 1
os.fsync(fd)
os.close(fd)
open(report + ".model", "wb").write(model)
open(report, "w").write("%d writes, the slowest write+fsync %.1f s\n" % (i, worst))
PY
rm -f "$TMP/mon.report"
tmo 150 "$PY" "$TMP/writer.py" "$M/$P/$MI" "$TMP/mon.src" 45 "$TMP/mon.report" &
writer=$!
CLEANUP+=("kill -9 $writer 2>/dev/null")
sleep 5
t0=$(now)
"$CC" kill mon.a --dir "$CDIR" || fail "step 1: kill mon.a"
sleep 2
# the mount answers without the monitor: listings, stat, reads of the open image
in_flight() {  # what rbdfs waits for, when something hangs
  timeout 5 ceph --admin-daemon "$TMP/rbdfs.asok" objecter_requests 2>&1 | head -60
  tail -20 "$TMP/rbdfs.log"
}
tmo 20 ls -l "$M/$P" >/dev/null || fail "step 1: ls -l of the pool with the monitor down: $(in_flight)"
tmo 20 stat "$M/$P/$MI" >/dev/null || fail "step 1: stat of the image with the monitor down: $(in_flight)"
tmo 20 dd if="$M/$P/$MI" of=/dev/null bs=1M count=8 status=none || fail "step 1: a read with the monitor down: $(in_flight)"
rest=$((20 - ($(date +%s) - ${t0%.*})))
[ "$rest" -gt 0 ] && sleep "$rest"
"$CC" revive mon.a --dir "$CDIR" || fail "step 1: starting the monitor again"
echo "   the monitor was down $(since "$t0") s"
wait "$writer" || fail "step 1: the writer failed while the monitor was down or after it came back"
echo "   writer: $(cat "$TMP/mon.report")"
rbd_export "$P/$MI" "$TMP/mon.export"
cmp "$TMP/mon.export" "$TMP/mon.report.model" || fail "step 1: rbd export differs from what the writer wrote"
# the mount goes on as before: a new image, written, snapshotted and listed
tmo 60 truncate -s 8M "$M/$P/after-mon" || fail "step 1: creating an image after the monitor came back"
tmo 60 dd if="$TMP/mon.src" of="$M/$P/after-mon" bs=1M count=8 conv=fsync,notrunc status=none ||
  fail "step 1: writing the new image"
rbd snap create "$P/after-mon@s1" >/dev/null 2>&1 || fail "step 1: rbd snap create"
for _ in $(seq 50); do [ -e "$M/$P/.snap/after-mon/s1" ] && break; sleep 0.2; done
cmp <(head -c $((8 * MiB)) "$TMP/mon.src") "$M/$P/.snap/after-mon/s1" ||
  fail "step 1: the snapshot file of the new image differs from what was written"
rbd snap purge "$P/after-mon" >/dev/null 2>&1
echo "   after: a new image created, written and its snapshot read through the mount"
fi

if wanted 2; then
step "2. exerciser through the mount for ${FAULT_SECONDS} s, one of $CLUSTER_OSDS OSDs SIGKILLed every 20-30 s (pool size 2, min_size 1; an op over $OP_BOUND s is a hang)"
# layout|rbd create options|starting size
LAYOUTS=(
  "deflt||5000123"
  "fancy|--image-feature layering,striping --stripe-unit 16K --stripe-count 3 --object-size 256K|1048583"
  "fdiff|--image-feature layering,exclusive-lock,object-map,fast-diff --object-size 64K --stripe-unit 16K --stripe-count 2|0"
)
rm -f "$TMP/stop"
# the fault loop: its log lines go to $TMP/faults.log
faults() {
  local t0 n osd down
  t0=$(now)
  while :; do
    for _ in $(seq $((20 + RANDOM % 11))); do [ -e "$TMP/stop" ] && return 0; sleep 1; done
    osd=$((RANDOM % CLUSTER_OSDS))
    down=$((3 + RANDOM % 4))
    n=$(since "$t0")
    "$CC" kill "osd.$osd" --dir "$CDIR" || { echo "kill osd.$osd failed" >>"$TMP/faults.err"; return 1; }
    sleep "$down"
    if ! "$CC" revive "osd.$osd" --dir "$CDIR" 2>>"$TMP/faults.err"; then
      echo "osd.$osd did not start again" >>"$TMP/faults.err"
      return 1
    fi
    echo "   +$n s: osd.$osd SIGKILLed, started again after $down s, up at +$(since "$t0") s" >>"$TMP/faults.log"
  done
}
faults &
FAULTS_PID=$!
CLEANUP+=("touch '$TMP/stop'; wait $FAULTS_PID 2>/dev/null")
run_one() {  # run_one LAYOUT_INDEX SEED
  local layout opts size img out t0
  IFS='|' read -r layout opts size <<<"${LAYOUTS[$1]}"
  img=ex-$layout-$2
  out=$TMP/out.$layout.$2
  # shellcheck disable=SC2086
  if ! rbd create --size "${size}B" $opts "$P/$img" >"$out" 2>&1; then
    { echo "   $layout seed $2: rbd create failed"; cat "$out"; } >&2
    echo "$layout seed $2" >"$TMP/failed.$layout.$2"
    return
  fi
  t0=$(now)
  if "$EX" --seed "$2" --ops 300 --image "$P/$img" --target "mount:$M/$P/$img" -c "$CEPH_CONF" \
      --id admin --model-dir "$TMP" --op-timeout "$OP_BOUND" >"$out" 2>&1; then
    printf '   %-6s seed %-4s %5.1f s: %s\n' "$layout" "$2" "$(since "$t0")" \
      "$(sed -n 's/.* in [0-9.]* s (\(.*\))[^)]*$/\1/p' "$out")"
  else
    echo "$layout seed $2" >"$TMP/failed.$layout.$2"
    { echo "   $layout seed $2: FAILED"; sed 's/^/     /' "$out"; } >&2
  fi
  rbd snap purge "$P/$img" >/dev/null 2>&1 || true
  rbd rm --no-progress "$P/$img" >/dev/null 2>&1 || true
}
deadline=$((SECONDS + FAULT_SECONDS))
lane() {  # lane L: runs layouts in turn, seeds 1000L+1.., until the deadline
  local k=0
  while [ $SECONDS -lt $deadline ]; do
    run_one $(((k + $1) % ${#LAYOUTS[@]})) $((1000 * $1 + 500 + k))
    k=$((k + 1))
  done
}
lane 0 &
L0=$!
lane 1 &
L1=$!
CLEANUP+=("pkill -P $L0 2>/dev/null; pkill -P $L1 2>/dev/null; kill $L0 $L1 2>/dev/null")
wait "$L0" || true
wait "$L1" || true
touch "$TMP/stop"
wait "$FAULTS_PID" || true
cat "$TMP/faults.log" 2>/dev/null || true
[ -s "$TMP/faults.err" ] && fail "step 2: the fault loop failed: $(cat "$TMP/faults.err")"
kills=$(wc -l <"$TMP/faults.log" 2>/dev/null || echo 0)
[ "$kills" -ge $((FAULT_SECONDS / 40)) ] || fail "step 2: only $kills OSD kills in $FAULT_SECONDS s"
runs=$(ls "$TMP"/out.* | wc -l)
failed=""
for f in "$TMP"/failed.*; do [ -e "$f" ] && failed+="${failed:+, }$(cat "$f")"; done
[ -z "$failed" ] || fail "step 2: runs failed: $failed"
echo "   $runs runs, $kills OSD kills, every check equal to the model and rbd export"
wait_clean 180 || fail "step 2: the cluster did not become clean after the OSD kills"
fi

if wanted 3; then
step "3. rbdfs SIGKILLed in the middle of a write stream that holds the lock of a default-features image"
KI=kill-img
rbd create --size 64M "$P/$KI" || fail "rbd create $P/$KI"
M2=$TMP/mnt2
mount_rbdfs "$M2" --log-file "$TMP/rbdfs2.log"
for _ in $(seq 50); do [ -e "$M2/$P/$KI" ] && break; sleep 0.2; done
head -c $((64 * MiB)) /dev/urandom >"$TMP/kill.src"
cat >"$TMP/stream.py" <<'PY'
# stream PATH SRC PROGRESS: writes SRC in 1 MiB pieces from offset 0; after
# every 4 pieces an fsync, then the length fsynced so far goes to PROGRESS;
# paced (50 ms a piece) so that it is still writing when rbdfs is killed
import os, sys, time
path, src, progress = sys.argv[1:4]
data = open(src, "rb").read()
fd = os.open(path, os.O_RDWR)
chunk = 1 << 20
for i in range(len(data) // chunk):
    os.pwrite(fd, data[i * chunk:(i + 1) * chunk], i * chunk)
    time.sleep(0.05)
    if i % 4 == 3:
        os.fsync(fd)
        with open(progress + ".tmp", "w") as f:
            f.write("%d\n" % ((i + 1) * chunk))
        os.replace(progress + ".tmp", progress)
PY
rm -f "$TMP/kill.progress"
"$PY" "$TMP/stream.py" "$M2/$P/$KI" "$TMP/kill.src" "$TMP/kill.progress" 2>"$TMP/stream.err" &
stream=$!
CLEANUP+=("kill -9 $stream 2>/dev/null")
for _ in $(seq 300); do [ -s "$TMP/kill.progress" ] && break; sleep 0.1; done
[ -s "$TMP/kill.progress" ] || fail "step 3: the stream fsynced nothing in 30 s"
sleep 1
pid=$(rbdfs_pid "$M2")
[ -n "$pid" ] || fail "step 3: cannot find the rbdfs process of $M2"
kill -9 "$pid"
t0=$(now)
synced=$(cat "$TMP/kill.progress")
wait "$stream" 2>/dev/null && fail "step 3: the stream finished before rbdfs was killed"
fusermount3 -uz "$M2" || fail "step 3: fusermount3 -uz of the killed mount"
[ "$synced" -lt $((64 * MiB)) ] || fail "step 3: the stream had fsynced everything"
echo "   rbdfs killed after $((synced / MiB)) MiB were fsynced"
head -c $MiB /dev/urandom >"$TMP/kill.more"
mount_rbdfs "$M2" --log-file "$TMP/rbdfs2b.log" ${RBDFS_FAULTS_LOG_LEVEL:+--log-level $RBDFS_FAULTS_LOG_LEVEL}
t_mounted=$(since "$t0")
for _ in $(seq 50); do [ -e "$M2/$P/$KI" ] && break; sleep 0.2; done
tmo 120 dd if="$TMP/kill.more" of="$M2/$P/$KI" bs=1M seek=63 conv=fsync,notrunc status=none ||
  fail "step 3: the remount could not write the image within 120 s: $(tail -3 "$TMP/rbdfs2b.log")"
t_remount=$(since "$t0")
t1=$(now)
tmo 120 "$PY" - "$P/$KI" "$TMP/kill.lib" <<'PY' || fail "step 3: librbd could not write after the remount"
import os, sys, rados, rbd
spec, out = sys.argv[1:3]
c = rados.Rados(conffile=os.environ["CEPH_CONF"], name="client.admin")
c.connect()
with c.open_ioctx(spec.split("/")[0]) as io, rbd.Image(io, spec.split("/")[1]) as img:
    data = os.urandom(1 << 20)
    img.write(data, 62 << 20)
    img.flush()
open(out, "wb").write(data)
c.shutdown()
PY
t_librbd=$(since "$t1")
echo "   remounted $t_mounted s after the kill, wrote and fsynced at $t_remount s; librbd wrote $t_librbd s after that"
# the killed rbdfs is known gone at once (its lock names its pid and start
# time; core/lock_owner_process.h), not after its watch times out (30 s)
[ "$(echo "$t_remount < 10" | bc)" = 1 ] || fail "step 3: the remount took $t_remount s to write (bound: 10 s)"
[ "$(echo "$t_librbd < 15" | bc)" = 1 ] || fail "step 3: librbd took $t_librbd s to write after the remount (bound: 15 s)"
contains "which has exited" <"$TMP/rbdfs2b.log" ||
  fail "step 3: the remount did not say that it found the killed rbdfs gone: $(cat "$TMP/rbdfs2b.log")"
rbd_export "$P/$KI" "$TMP/kill.export"
cmp -n "$synced" "$TMP/kill.export" "$TMP/kill.src" || fail "step 3: bytes fsynced before the kill differ in rbd export"
cmp <(dd if="$TMP/kill.export" bs=1M skip=63 status=none) "$TMP/kill.more" || fail "step 3: the remount's write differs"
cmp <(dd if="$TMP/kill.export" bs=1M skip=62 count=1 status=none) "$TMP/kill.lib" || fail "step 3: librbd's write differs"
rbd object-map check "$P/$KI" >/dev/null 2>&1 || fail "step 3: rbd object-map check"
fi

pass "faults"
