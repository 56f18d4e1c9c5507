#!/bin/bash
# The seeded random exerciser (tools/rbdfs-exercise.cc) against the mount
# and against core: random writes, reads, truncates, punched holes, zero
# ranges, fsync, reopen, snapshots and O_DIRECT writes through a second
# descriptor, on fresh images of three layouts with odd starting sizes, each
# checked against a local model, a full read and `rbd export`.
#
# Seeds differ per layout (layout k runs seeds 100k+1..100k+8 through the
# mount and 100k+11..100k+13 through core). RBDFS_EXERCISE_OPS (default 250),
# RBDFS_EXERCISE_MOUNT_SEEDS and RBDFS_EXERCISE_CORE_SEEDS (lists of seeds
# within a layout, default "1 2 3 4 5 6 7 8" and "11 12 13") change the runs.
# Every run is made; a failing one prints the exerciser's report, with the
# command that replays it, and fails the test at the end.
. "$(dirname "$0")/lib.sh"
need_conf
scratch
EX=$BUILD/tools/rbdfs-exercise
[ -x "$EX" ] || fail "$EX is not built"
M=$TMP/mnt
P=rbd
OPS=${RBDFS_EXERCISE_OPS:-250}
MOUNT_SEEDS=${RBDFS_EXERCISE_MOUNT_SEEDS:-"1 2 3 4 5 6 7 8"}
CORE_SEEDS=${RBDFS_EXERCISE_CORE_SEEDS:-"11 12 13"}
mount_rbdfs "$M"

# images still to remove (each run removes its own; cleanup gets the rest)
LEFT=()
remove_image() { rbd snap purge "$P/$1" >/dev/null 2>&1; rbd rm --no-progress "$P/$1" >/dev/null 2>&1; }
remove_left() { local i; for i in "${LEFT[@]}"; do [ -n "$i" ] && remove_image "$i"; done; }
CLEANUP+=("remove_left")

# layout name, rbd create options, starting sizes (bytes; one per seed, in turn)
LAYOUTS=(
  "default|--image-feature layering|5000123 0 1048583"
  "small|--image-feature layering --object-size 64K|0 1048583 5000123"
  "fancy|--image-feature layering,striping --stripe-unit 16K --stripe-count 3 --object-size 256K|1048583 5000123 0"
)
FAILED=()
RUNS=0
# run_one LAYOUT OPTIONS SIZE TARGET SEED
run_one() {
  local layout=$1 opts=$2 size=$3 target=$4 seed=$5 img out t0 targ
  img=$(uniq "ex-$layout-$target-$seed")
  # shellcheck disable=SC2086
  rbd create --size "${size}B" $opts "$P/$img" || fail "rbd create $opts $P/$img"
  LEFT+=("$img")
  targ=core
  [ "$target" = mount ] && targ=mount:$M/$P/$img
  out=$TMP/out.$img
  t0=$(date +%s.%N)
  if "$EX" --seed "$seed" --ops "$OPS" --image "$P/$img" --target "$targ" -c "$CEPH_CONF" \
      --id admin --model-dir "$TMP" > "$out" 2>&1; then
    printf '   %-7s %-5s seed %s size %-8s %5.1f s: %s\n' "$layout" "$target" "$seed" "$size" \
      "$(echo "$(date +%s.%N) - $t0" | bc)" "$(sed -n 's/.* in [0-9.]* s (\(.*\))[^)]*$/\1/p' "$out")"
  else
    echo "   $layout $target seed $seed size $size: FAILED" >&2
    sed 's/^/     /' "$out" >&2
    FAILED+=("$layout/$target/seed $seed")
  fi
  RUNS=$((RUNS + 1))
  if remove_image "$img"; then
    local keep=() i
    for i in "${LEFT[@]}"; do [ "$i" = "$img" ] || keep+=("$i"); done
    LEFT=("${keep[@]}")
  fi
}

start=$(date +%s)
base=0
for spec in "${LAYOUTS[@]}"; do
  IFS='|' read -r layout opts sizes <<<"$spec"
  read -r -a sz <<<"$sizes"
  step "layout $layout ($opts): $OPS ops per seed, through the mount and through core"
  k=0
  for seed in $MOUNT_SEEDS; do
    run_one "$layout" "$opts" "${sz[k % ${#sz[@]}]}" mount $((base + seed))
    k=$((k + 1))
  done
  for seed in $CORE_SEEDS; do
    run_one "$layout" "$opts" "${sz[k % ${#sz[@]}]}" core $((base + seed))
    k=$((k + 1))
  done
  base=$((base + 100))
done
echo "   $RUNS runs in $(($(date +%s) - start)) s"
[ ${#FAILED[@]} -eq 0 ] || fail "${#FAILED[@]} of $RUNS runs failed: ${FAILED[*]}"
pass "exerciser"
