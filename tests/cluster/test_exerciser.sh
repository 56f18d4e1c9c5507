#!/bin/bash
# The seeded random exerciser (tools/rbdfs-exercise.cc) against the mount
# and against core: random writes, reads, truncates, punched holes, zero
# ranges, fallocate, fsync, reopen, snapshots and O_DIRECT writes through a
# second descriptor, on fresh images of five layouts with odd starting
# sizes and on fresh clones of two layouts (their parents in the other
# layout, resized to odd sizes), each checked against a local model, a
# full read and `rbd export`.
#
# Seeds differ per layout: layout k (0..6) runs seeds 100k+1..100k+8
# through the mount and 100k+11..100k+13 through core (the two layouts with
# default features: the first 4 of each; the clones: the first 3). Two runs go at a time
# (one mount, two lanes). RBDFS_EXERCISE_OPS (default 400),
# RBDFS_EXERCISE_MOUNT_SEEDS and RBDFS_EXERCISE_CORE_SEEDS (seeds within a
# layout, default "1 2 3 4 5 6 7 8" and "11 12 13"; empty: none) and RBDFS_EXERCISE_LANES
# (default 2) change the runs. Every run is made; a failing one prints the
# exerciser's report, with the command that replays it, and fails the test;
# an operation that hangs fails after 120 s. At the end the daemon must exit
# once unmounted.
. "$(dirname "$0")/lib.sh"
need_conf
scratch
EX=$BUILD/tools/rbdfs-exercise
[ -x "$EX" ] || fail "$EX is not built"
M=$TMP/mnt
P=rbd
OPS=${RBDFS_EXERCISE_OPS:-400}
MOUNT_SEEDS=${RBDFS_EXERCISE_MOUNT_SEEDS-"1 2 3 4 5 6 7 8"}
CORE_SEEDS=${RBDFS_EXERCISE_CORE_SEEDS-"11 12 13"}
LANES=${RBDFS_EXERCISE_LANES:-2}
PREFIX=$(uniq ex)
# every full-size piece of a read waits for its neighbours (not only under
# load, the default): the gathered path runs under the model
mount_rbdfs "$M" --gather-reads 0

remove_image() { rbd snap purge "$P/$1" >/dev/null 2>&1; rbd rm --no-progress "$P/$1" >/dev/null 2>&1 || true; }
# each run removes its image; this gets what an interrupted run left
remove_ours() {
  local i
  # twice: a clone's parent goes once its clones have gone
  for _ in 1 2; do
    for i in $(rbd ls "$P" 2>/dev/null | grep "^$PREFIX-"); do remove_image "$i"; done
  done
}
CLEANUP+=("remove_ours")
LANE_PIDS=()
# on an interruption: the lanes and the exercisers they run (children by pid)
stop_lanes() {
  local p
  for p in "${LANE_PIDS[@]}"; do
    pkill -P "$p" 2>/dev/null
    kill "$p" 2>/dev/null
  done
  return 0
}
CLEANUP+=("stop_lanes")

# layout|rbd create options|starting sizes in bytes, one per run in turn|
# at most this many seeds per target (empty: all)
# The last two have Pacific's default features (exclusive lock, object map,
# fast-diff): the exerciser then also runs `rbd object-map check` at every
# check, which takes the lock from rbdfs and gives it back.
LAYOUTS=(
  "default|--image-feature layering|5000123 0 1048583|"
  "small|--image-feature layering --object-size 64K|0 1048583 5000123|"
  "fancy|--image-feature layering,striping --stripe-unit 16K --stripe-count 3 --object-size 256K|1048583 5000123 0|"
  "deflt||5000123 0 1048583|4"
  "fdiff|--image-feature layering,exclusive-lock,object-map,fast-diff --object-size 64K --stripe-unit 16K --stripe-count 2|0 1048583 5000123|4"
  "clone|--image-feature layering --object-size 4M --stripe-unit 4M --stripe-count 1|6000000 3000011 9000000|3|$PREFIX-par64k@s"
  "clonefd|--image-feature layering,exclusive-lock,object-map,fast-diff,deep-flatten --object-size 64K --stripe-unit 16K --stripe-count 2|9000000 6000000 3000011|3|$PREFIX-par4m@s"
)
# The clones' parents (made once): random data with holes between, 6 MB,
# one with 4 MiB objects, one with 64K objects striped 16K x 3. A clone run
# starts as `rbd clone` of one (v2), resized to the run's starting size
# (smaller: the overlap shrinks with it), and its model as `rbd export`.
head -c 1048576 /dev/urandom >"$TMP/par.raw"
dd if=/dev/urandom of="$TMP/par.raw" bs=65536 count=20 seek=50 conv=notrunc status=none
dd if=/dev/urandom of="$TMP/par.raw" bs=1000 count=5 seek=5990 conv=notrunc status=none
truncate -s 6000000 "$TMP/par.raw"
rbd import --no-progress --image-feature layering "$TMP/par.raw" "$P/$PREFIX-par4m" >/dev/null
rbd import --no-progress --image-feature layering,striping --object-size 64K --stripe-unit 16K \
  --stripe-count 3 "$TMP/par.raw" "$P/$PREFIX-par64k" >/dev/null
for par in par4m par64k; do rbd snap create "$P/$PREFIX-$par@s" >/dev/null 2>&1; done
RUNS=()  # layout|options|size|target|seed
base=0
for spec in "${LAYOUTS[@]}"; do
  IFS='|' read -r layout opts sizes most parent <<<"$spec"
  read -r -a sz <<<"$sizes"
  k=0
  for target in mount core; do
    seeds=$MOUNT_SEEDS
    [ "$target" = core ] && seeds=$CORE_SEEDS
    [ -n "$most" ] && seeds=$(echo $seeds | tr ' ' '\n' | head -n "$most" | tr '\n' ' ')
    for seed in $seeds; do
      RUNS+=("$layout|$opts|${sz[k % ${#sz[@]}]}|$target|$((base + seed))|$parent")
      k=$((k + 1))
    done
  done
  base=$((base + 100))
done

# run_one INDEX: one exerciser run on a fresh image; a failure leaves
# $TMP/failed.INDEX
run_one() {
  local layout opts size target seed parent img out t0 targ label made extra=()
  IFS='|' read -r layout opts size target seed parent <<<"${RUNS[$1]}"
  label="$layout $target seed $seed size $size"
  img=$PREFIX-$layout-$target-$seed
  out=$TMP/out.$1
  made=ok
  # shellcheck disable=SC2086
  if [ -n "$parent" ]; then
    extra=(--from-image)
    if ! rbd clone --rbd-default-clone-format 2 $opts "$P/$parent" "$P/$img" >"$out" 2>&1; then
      made="rbd clone $opts $parent"
    elif [ "$(image_size "$P/$img")" != "$size" ] &&
      ! rbd resize --no-progress --allow-shrink --size "${size}B" "$P/$img" >>"$out" 2>&1; then
      made="rbd resize --size ${size}B (a clone of $parent)"
    fi
  elif ! rbd create --size "${size}B" $opts "$P/$img" >"$out" 2>&1; then
    made="rbd create $opts"
  fi
  if [ "$made" != ok ]; then
    echo "$label" >"$TMP/failed.$1"
    { echo "   $label: $made failed"; cat "$out"; } >&2
    return
  fi
  targ=core
  [ "$target" = mount ] && targ=mount:$M/$P/$img
  t0=$(date +%s.%N)
  if "$EX" --seed "$seed" --ops "$OPS" --image "$P/$img" --target "$targ" -c "$CEPH_CONF" \
      --id admin --model-dir "$TMP" --op-timeout 120 "${extra[@]}" >"$out" 2>&1; then
    printf '   %-7s %-5s seed %-3s size %-8s %5.1f s: %s\n' "$layout" "$target" "$seed" "$size" \
      "$(echo "$(date +%s.%N) - $t0" | bc)" "$(sed -n 's/.* in [0-9.]* s (\(.*\))[^)]*$/\1/p' "$out")"
  else
    echo "$label" >"$TMP/failed.$1"
    { echo "   $label: FAILED"; sed 's/^/     /' "$out"; } >&2
  fi
  remove_image "$img"
}
lane() {
  local i
  for ((i = $1; i < ${#RUNS[@]}; i += LANES)); do run_one "$i"; done
}

step "${#RUNS[@]} runs of $OPS ops: 7 layouts (2 of them clones), seeds through the mount and through core, $LANES at a time"
start=$(date +%s)
for ((l = 0; l < LANES; l++)); do
  lane "$l" &
  LANE_PIDS+=($!)
done
for p in "${LANE_PIDS[@]}"; do wait "$p" || true; done
LANE_PIDS=()
echo "   ${#RUNS[@]} runs in $(($(date +%s) - start)) s"

step "after unmount the daemon exits (no thread left hanging in a release)"
pid=$(rbdfs_pid "$M")
[ -n "$pid" ] || fail "cannot find the rbdfs process of $M"
umount_rbdfs "$M"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$pid" 2>/dev/null; then
  echo "   rbdfs $pid still runs 20 s after the unmount; threads: $(ls /proc/"$pid"/task | wc -l)" >&2
  kill -9 "$pid" 2>/dev/null || true
  echo "rbdfs did not exit after the unmount" >"$TMP/failed.daemon"
fi

failed=""
for f in "$TMP"/failed.*; do
  [ -e "$f" ] && failed+="${failed:+, }$(cat "$f")"
done
[ -z "$failed" ] || fail "runs failed: $failed"
pass "exerciser"
