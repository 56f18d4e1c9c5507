#!/bin/bash
# Data pools on an erasure-coded pool (k=2 m=1, allow_ec_overwrites; the
# test cluster needs 3 OSDs up, tools/check starts it so): the metadata
# (header, object map) stays in the replicated pool rbd, the data objects go
# to the EC pool. Images created through the mount get the data pool of
# --data-pool, else of ceph.conf's rbd_default_data_pool; `rbd info` shows
# it and `rbd export` equals what was written. An image `rbd create
# --data-pool` made (Pacific's default features) reads and writes through
# the mount as rbd sees it, object map clean. A missing data pool fails the
# create with ENOENT and one log line, leaving nothing. The seeded
# exerciser passes on EC-data-pool images, through the mount and core
# (RBDFS_DATA_POOL_MOUNT_SEEDS, RBDFS_DATA_POOL_CORE_SEEDS, RBDFS_EXERCISE_OPS
# change its runs); a failing run prints its seed and the replay command.
. "$(dirname "$0")/lib.sh"
need_conf
scratch
M=$TMP/mnt
P=rbd
EX=$BUILD/tools/rbdfs-exercise
[ -x "$EX" ] || fail "$EX is not built"
OPS=${RBDFS_EXERCISE_OPS:-400}
MOUNT_SEEDS=${RBDFS_DATA_POOL_MOUNT_SEEDS-"1 2 3"}
CORE_SEEDS=${RBDFS_DATA_POOL_CORE_SEEDS-"11 12"}

up=$(ceph osd stat -f json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["num_up_osds"])')
[ "$up" -ge 3 ] ||
  fail "an erasure-coded pool (k=2 m=1) needs 3 OSDs up, the test cluster has $up (tools/ceph-cluster start --osds 3)"

EC=$(uniq ecdata)
# cleanup runs backwards: the images, then the pool, its crush rule, its profile
ceph osd erasure-code-profile set "$EC" k=2 m=1 crush-failure-domain=osd >/dev/null
CLEANUP+=("ceph osd erasure-code-profile rm $EC >/dev/null 2>&1")
CLEANUP+=("ceph osd crush rule rm $EC >/dev/null 2>&1")
ceph osd pool create "$EC" 8 8 erasure "$EC" >/dev/null 2>&1 || fail "cannot create the EC pool $EC"
CLEANUP+=("ceph osd pool rm $EC $EC --yes-i-really-really-mean-it >/dev/null 2>&1")
ceph osd pool set "$EC" allow_ec_overwrites true >/dev/null 2>&1 || fail "allow_ec_overwrites on $EC (bluestore only)"
ceph osd pool application enable "$EC" rbd >/dev/null 2>&1
PREFIX=$(uniq dp)
remove_ours() {
  local img
  # twice: a parent goes once its clone has gone
  for _ in 1 2; do
    for img in $(rbd ls "$P" 2>/dev/null | grep "^$PREFIX-"); do
      rbd snap purge "$P/$img" >/dev/null 2>&1
      rbd rm --no-progress "$P/$img" >/dev/null 2>&1
    done
  done
  rbd ls "$P" 2>/dev/null | contains "^$PREFIX-" && echo "left in $P: $(rbd ls "$P" | grep "^$PREFIX-")" >&2
  return 0
}
CLEANUP+=("remove_ours")

# in_ec IMAGE: its data objects are in the EC pool, none in rbd
in_ec() {
  local id
  id=$(rbd info --format json "$P/$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  rados -p "$EC" ls | contains "^rbd_data\.[0-9]*\.$id\." || fail "$1: no data objects in $EC"
  rados -p "$P" ls | contains "^rbd_data\..*$id\." && fail "$1: data objects in $P"
  return 0
}
data_pool_of() { rbd info "$P/$1" | sed -n 's/^[[:space:]]*data_pool: //p'; }
same_as_rbd() {  # IMAGE FILE: FILE equals rbd export of IMAGE
  rbd_export "$P/$1" "$TMP/x.rbd"
  cmp "$2" "$TMP/x.rbd" || fail "$1: $2 differs from rbd export"
}
# a model: random data, holes, an unaligned tail; 10 MB (3 objects of 4M)
head -c 1048576 /dev/urandom >"$TMP/model"
dd if=/dev/urandom of="$TMP/model" bs=65536 count=40 seek=60 conv=notrunc status=none
dd if=/dev/urandom of="$TMP/model" bs=1000 count=7 seek=9990 conv=notrunc status=none
truncate -s 10000000 "$TMP/model"

step "--data-pool $EC: an image created through the mount has its data there"
A=$PREFIX-a
mount_rbdfs "$M" --data-pool "$EC"
cp "$TMP/model" "$M/$P/$A" || fail "cp into the mount failed"
# unaligned overwrites within an EC stripe and across objects (read-modify-write)
printf 'xyz%.0s' $(seq 1 1000) | dd of="$M/$P/$A" bs=1 seek=4194000 conv=notrunc,fsync status=none
printf 'xyz%.0s' $(seq 1 1000) | dd of="$TMP/model" bs=1 seek=4194000 conv=notrunc status=none
expect_eq "$(data_pool_of "$A")" "$EC" "rbd info's data_pool of $A"
rbd info --format json "$P/$A" | contains '"data-pool"' || fail "$A lacks the data-pool feature"
same_as_rbd "$A" "$TMP/model"
cmp "$M/$P/$A" "$TMP/model" || fail "$A read through the mount differs"
in_ec "$A"
if rbd info "$P/$A" | contains object-map; then
  rbd object-map check "$P/$A" >/dev/null 2>&1 || fail "$A: rbd object-map check is not clean"
fi

step "a clone made through the mount (ln of a snapshot) gets the data pool too"
touch "$M/$P/.snap/$A/s" || fail "snapshot through the mount failed"
K=$PREFIX-k
ln "$M/$P/.snap/$A/s" "$M/$P/$K" || fail "ln (clone) failed"
expect_eq "$(data_pool_of "$K")" "$EC" "data_pool of the clone $K"
dd if=/dev/urandom of="$TMP/model" bs=4096 count=3 seek=1500 conv=notrunc status=none
dd if="$TMP/model" of="$M/$P/$K" bs=4096 count=3 skip=1500 seek=1500 conv=notrunc,fsync status=none
same_as_rbd "$K" "$TMP/model"
umount_rbdfs "$M"

step "ceph.conf's rbd_default_data_pool gives one without the option"
sed "/^\[global\]/a rbd default data pool = $EC" "$CEPH_CONF" >"$TMP/dp.conf"
B=$PREFIX-b
CEPH_CONF=$TMP/dp.conf mount_rbdfs "$M"
head -c 3000001 /dev/urandom >"$TMP/b"
dd if="$TMP/b" of="$M/$P/$B" bs=1M conv=fsync status=none || fail "dd into the mount failed"
expect_eq "$(data_pool_of "$B")" "$EC" "data_pool of $B (rbd_default_data_pool)"
same_as_rbd "$B" "$TMP/b"
in_ec "$B"
umount_rbdfs "$M"
step "--data-pool beats rbd_default_data_pool (the image's own pool: no data pool)"
B2=$PREFIX-b2
CEPH_CONF=$TMP/dp.conf mount_rbdfs "$M" --data-pool "$P"
truncate -s 1M "$M/$P/$B2" || fail "truncate -s (create) failed"
expect_eq "$(data_pool_of "$B2")" "" "data_pool of $B2"
umount_rbdfs "$M"

step "an image rbd made with --data-pool $EC (default features) reads and writes"
C=$PREFIX-c
rbd import --no-progress --data-pool "$EC" "$TMP/model" "$P/$C" >/dev/null
expect_eq "$(data_pool_of "$C")" "$EC" "data_pool of $C"
rbd snap create --no-progress "$P/$C@before" >/dev/null
cp "$TMP/model" "$TMP/before"
mount_rbdfs "$M"
cmp "$M/$P/$C" "$TMP/model" || fail "$C read through the mount differs"
dd if=/dev/urandom of="$TMP/w" bs=1 count=300001 status=none
for off in 0 4193000 6000001 9800000; do
  dd if="$TMP/w" of="$M/$P/$C" bs=4096 seek="$off" oflag=seek_bytes conv=notrunc status=none
  dd if="$TMP/w" of="$TMP/model" bs=4096 seek="$off" oflag=seek_bytes conv=notrunc status=none
done
truncate -s 10100000 "$M/$P/$C"
truncate -s 10100000 "$TMP/model"
fallocate -p -o 1000000 -l 2500000 "$M/$P/$C" || fail "punch hole failed"
fallocate -p -o 1000000 -l 2500000 "$TMP/model"
sync "$M/$P/$C"
cmp "$M/$P/$C" "$TMP/model" || fail "$C read back through the mount differs"
same_as_rbd "$C" "$TMP/model"
cmp "$M/$P/.snap/$C/before" "$TMP/before" || fail "$C@before through the mount differs"
rbd_export "$P/$C@before" "$TMP/x.rbd"
cmp "$TMP/x.rbd" "$TMP/before" || fail "rbd export of $C@before differs"
rbd object-map check "$P/$C" >/dev/null 2>&1 || fail "$C: rbd object-map check is not clean"
rbd object-map check "$P/$C@before" >/dev/null 2>&1 || fail "$C@before: rbd object-map check is not clean"
umount_rbdfs "$M"

step "a missing data pool: ENOENT on create, one log line, no image"
D=$PREFIX-d
mount_rbdfs "$M" --data-pool "$PREFIX-nosuchpool" --log-file "$TMP/bad.log"
expect_fail "No such file or directory" truncate -s 1M "$M/$P/$D"
expect_fail "No such file or directory" ln "$M/$P/.snap/$A/s" "$M/$P/$D"
rbd ls "$P" | contains -x "$D" && fail "$D was created"
rados -p "$P" ls | contains "^rbd_id\.$D\$" && fail "rbd_id.$D left behind"
expect_eq "$(grep -c "$PREFIX-nosuchpool" "$TMP/bad.log")" 2 "log lines naming the missing pool (create, ln)"
grep "create $P/$D: " "$TMP/bad.log" | contains "does not exist" || fail "the log does not say the data pool does not exist"
umount_rbdfs "$M"

step "an EC data pool without overwrite support: EINVAL on create, as rbd create says"
NOW=$PREFIX-noow  # an erasure-coded pool left without allow_ec_overwrites
ceph osd pool create "$NOW" 8 8 erasure "$EC" >/dev/null 2>&1 || fail "cannot create the EC pool $NOW"
CLEANUP+=("ceph osd crush rule rm $NOW >/dev/null 2>&1")  # made with the pool
CLEANUP+=("ceph osd pool rm $NOW $NOW --yes-i-really-really-mean-it >/dev/null 2>&1")
ceph osd pool application enable "$NOW" rbd >/dev/null 2>&1
out=$(rbd create --size 1M --data-pool "$NOW" "$P/$PREFIX-byrbd" 2>&1 || true)
contains "Invalid argument" <<<"$out" || fail "rbd create took an EC pool without overwrites: $out"
mount_rbdfs "$M" --data-pool "$NOW" --log-file "$TMP/noow.log"
expect_fail "Invalid argument" truncate -s 1M "$M/$P/$D"
rbd ls "$P" | contains -x "$D" && fail "$D was created on a data pool without overwrite support"
contains "overwrite" <"$TMP/noow.log" || fail "the log does not say the data pool lacks overwrite support"
umount_rbdfs "$M"

step "the exerciser on EC-data-pool images (mount seeds: $MOUNT_SEEDS; core seeds: $CORE_SEEDS)"
# layout|rbd create options|starting size
LAYOUTS=(
  "deflt|--data-pool $EC|5000123"
  "fancy|--data-pool $EC --image-feature layering,striping,exclusive-lock,object-map,fast-diff --object-size 256K --stripe-unit 16K --stripe-count 3|1048583"
)
mount_rbdfs "$M"
failed=""
base=0  # seeds differ per layout: layout k runs 100k + each seed
for spec in "${LAYOUTS[@]}"; do
  IFS='|' read -r layout opts size <<<"$spec"
  for run in $(for s in $MOUNT_SEEDS; do echo "mount:$s"; done; for s in $CORE_SEEDS; do echo "core:$s"; done); do
    target=${run%%:*}
    seed=$((base + ${run#*:}))
    img=$PREFIX-ex-$layout-$target-$seed
    # shellcheck disable=SC2086
    rbd create --size "${size}B" $opts "$P/$img" >"$TMP/out" 2>&1 ||
      { cat "$TMP/out" >&2; fail "rbd create $opts failed"; }
    targ=core
    [ "$target" = mount ] && targ=mount:$M/$P/$img
    t0=$(date +%s.%N)
    if "$EX" --seed "$seed" --ops "$OPS" --image "$P/$img" --target "$targ" -c "$CEPH_CONF" \
        --id admin --model-dir "$TMP" --op-timeout 120 >"$TMP/out" 2>&1; then
      printf '   %-5s %-5s seed %-3s %5.1f s\n' "$layout" "$target" "$seed" "$(echo "$(date +%s.%N) - $t0" | bc)"
    else
      { echo "   $layout $target seed $seed (data pool $EC): FAILED"; sed 's/^/     /' "$TMP/out"; } >&2
      failed+="${failed:+, }$layout $target seed $seed"
    fi
    rbd snap purge "$P/$img" >/dev/null 2>&1
    rbd rm --no-progress "$P/$img" >/dev/null 2>&1 || true
  done
  base=$((base + 100))
done
umount_rbdfs "$M"
[ -z "$failed" ] || fail "exerciser runs failed: $failed"
pass "data pool"
