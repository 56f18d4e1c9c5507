#!/bin/bash
# tools/ceph-cluster: start, status, object I/O with rados, start again
# (idempotent), start after a crash, a second cluster beside this one, stop,
# and nothing left running.
. "$(dirname "$0")/lib.sh"
scratch
CLUSTER=$SRC/tools/ceph-cluster
DIR=$TMP/c
ADDR=127.0.0.$((10 + RANDOM % 200))
CLEANUP+=("'$CLUSTER' stop --dir '$DIR' >/dev/null 2>&1")

daemons_of() { # pids of processes whose command line names this conf
  local conf=$1 p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -qF -- "$conf" && basename "$p"
  done
  return 0
}

step "start on $ADDR"
conf=$("$CLUSTER" start --dir "$DIR" --addr "$ADDR" --store bluestore 2>"$TMP/start.log" | tail -1) ||
  { cat "$TMP/start.log"; fail "start failed"; }
expect_eq "$conf" "$DIR/ceph.conf" "start prints the conf path"
grep -q "auth client required = cephx" "$conf" || fail "cephx is not on"
st=$("$CLUSTER" status --dir "$DIR") || fail "status failed: $st"
grep -q "osd.0: running" <<<"$st" || fail "status does not show osd.0 running: $st"

step "object round trip with rados, and the rbd pool"
head -c 100000 /dev/urandom > "$TMP/obj"
rados --conf "$conf" -p rbd put testobj "$TMP/obj"
rados --conf "$conf" -p rbd get testobj "$TMP/obj.back"
cmp "$TMP/obj" "$TMP/obj.back" || fail "object read back differs"
rbd --conf "$conf" pool stats rbd >/dev/null || fail "pool rbd is not initialised"
rbd --conf "$conf" --id rbdfs ls rbd >/dev/null || fail "client.rbdfs cannot use pool rbd"
rados --conf "$conf" --keyring /dev/null -p rbd ls >/dev/null 2>&1 && fail "no keyring was accepted: cephx is off"

step "start again is a no-op"
mon_pid=$(cat "$DIR/run/mon.a.pid")
"$CLUSTER" start --dir "$DIR" --addr "$ADDR" >/dev/null 2>&1 || fail "second start failed"
expect_eq "$(cat "$DIR/run/mon.a.pid")" "$mon_pid" "monitor pid after second start"

step "an OSD restart keeps bluestore data"
"$CLUSTER" restart-osd 0 --dir "$DIR" 2>/dev/null || fail "restart-osd failed"
rados --conf "$conf" -p rbd get testobj "$TMP/obj.back2"
cmp "$TMP/obj" "$TMP/obj.back2" || fail "object lost across an OSD restart"

step "a second cluster beside the first"
DIR2=$TMP/c2
ADDR2=127.0.0.$((${ADDR##*.} + 1))
CLEANUP+=("'$CLUSTER' stop --dir '$DIR2' >/dev/null 2>&1")
conf2=$("$CLUSTER" start --dir "$DIR2" --addr "$ADDR2" 2>"$TMP/start2.log" | tail -1) ||
  { cat "$TMP/start2.log"; fail "second cluster failed to start"; }
rados --conf "$conf2" -p rbd ls | contains testobj && fail "the clusters share data"
"$CLUSTER" stop --dir "$DIR2" 2>/dev/null
[ -z "$(daemons_of "$conf2")" ] || fail "daemons of the second cluster still run"
"$CLUSTER" status --dir "$DIR" >/dev/null || fail "stopping the second cluster hurt the first"

step "start after a crash"
for pid in $(daemons_of "$conf"); do kill -9 "$pid"; done
sleep 1
"$CLUSTER" status --dir "$DIR" >/dev/null 2>&1 && fail "status says running after a crash"
"$CLUSTER" start --dir "$DIR" --addr "$ADDR" >/dev/null 2>"$TMP/start3.log" ||
  { cat "$TMP/start3.log"; fail "start after a crash failed"; }
rados --conf "$conf" -p rbd put after-crash "$TMP/obj" || fail "cluster after a crash does not work"

step "stop leaves nothing running"
"$CLUSTER" stop --dir "$DIR" 2>/dev/null
[ -z "$(daemons_of "$conf")" ] || fail "daemons still running after stop: $(daemons_of "$conf")"
"$CLUSTER" status --dir "$DIR" >/dev/null 2>&1 && fail "status says running after stop"

step "wipe removes the daemons' data and keeps the logs"
"$CLUSTER" wipe --dir "$DIR" 2>/dev/null || fail "wipe failed"
ls -d "$DIR"/osd.* "$DIR"/mon.* 2>/dev/null && fail "daemon data left after wipe"
[ -d "$DIR/log" ] || fail "wipe removed the logs"
pass "cluster script"
