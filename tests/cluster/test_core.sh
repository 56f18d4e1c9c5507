#!/bin/bash
# core/ against the rbd CLI as the oracle, through rbdfs-tool (no mount):
# reads of images made by rbd for several layouts, writes across object and
# stripe boundaries, create/resize/rename/trash/rm, snapshots, discard, the
# feature gate, and connection errors.
. "$(dirname "$0")/lib.sh"
need_conf
scratch
TOOL=$BUILD/tools/rbdfs-tool
tool() { "$TOOL" -c "$CEPH_CONF" "$@"; }
P=rbd
cleanup_image() { CLEANUP+=("rbd snap purge $P/$1 >/dev/null 2>&1; rbd rm $P/$1 >/dev/null 2>&1"); }

step "reads of rbd-imported images equal rbd export, for several layouts"
head -c 5000123 /dev/urandom > "$TMP/data5m"
head -c $((33 * 1024 * 1024 + 123)) /dev/urandom > "$TMP/data33m"
check_import() { # name, file, rbd import options...
  local name=$1 file=$2; shift 2
  rbd import --no-progress --image-feature layering "$@" "$file" "$P/$name" >/dev/null
  cleanup_image "$name"
  tool cat "$P/$name" > "$TMP/$name.core"
  rbd_export "$P/$name" "$TMP/$name.rbd"
  cmp "$TMP/$name.core" "$TMP/$name.rbd" || fail "$name: core read differs from rbd export"
  cmp "$TMP/$name.core" "$file" || fail "$name: core read differs from the imported file"
  # a read at an odd offset and length, across objects
  tool cat "$P/$name" 65531 1000000 > "$TMP/$name.part"
  cmp "$TMP/$name.part" <(tail -c +65532 "$file" | head -c 1000000) || fail "$name: partial read differs"
}
I64K=$(uniq o64k); check_import "$I64K" "$TMP/data5m" --object-size 64K
I4M=$(uniq o4m); check_import "$I4M" "$TMP/data5m" --object-size 4M
I32M=$(uniq o32m); check_import "$I32M" "$TMP/data33m" --object-size 32M
ISTR=$(uniq stripe); check_import "$ISTR" "$TMP/data5m" --object-size 1M --stripe-unit 64K --stripe-count 4
# reading past the end is short
expect_eq "$(tool cat "$P/$I4M" 4999999 200 | wc -c)" 124 "bytes read at the end"
expect_eq "$(tool cat "$P/$I4M" 6000000 100 | wc -c)" 0 "bytes read past the end"

step "writes across object and stripe boundaries, and at the last byte"
for layout in "--object-size 1M --stripe-unit 64K --stripe-count 4" "--object-size 64K"; do
  W=$(uniq write)
  # shellcheck disable=SC2086
  rbd create --size 5000123B --image-feature layering $layout "$P/$W"
  cleanup_image "$W"
  truncate -s 5000123 "$TMP/shadow"
  for spec in 0:100 65530:20 262140:70000 1048570:10 4194300:300000 4999999:124 5000122:1; do
    off=${spec%%:*} len=${spec##*:}
    head -c "$len" /dev/urandom > "$TMP/chunk"
    tool put "$P/$W" "$off" < "$TMP/chunk" || fail "put at $off failed"
    dd if="$TMP/chunk" of="$TMP/shadow" bs=1 seek="$off" conv=notrunc status=none 2>/dev/null ||
      dd if="$TMP/chunk" of="$TMP/shadow" oflag=seek_bytes seek="$off" conv=notrunc status=none
  done
  rbd_export "$P/$W" "$TMP/w.rbd"
  cmp "$TMP/w.rbd" "$TMP/shadow" || fail "rbd export after core writes differs ($layout)"
  # a write past the end is refused and changes nothing
  echo x | tool put "$P/$W" 5000123 2>"$TMP/err" && fail "write past the end succeeded"
  grep -q EFBIG "$TMP/err" || fail "write past the end: expected EFBIG, got $(cat "$TMP/err")"
  rbd_export "$P/$W" "$TMP/w2.rbd"
  cmp "$TMP/w2.rbd" "$TMP/shadow" || fail "refused write changed the image"

  step "discard zeroes ranges ($layout)"
  tool discard "$P/$W" 60000 200000
  tool discard "$P/$W" 4900000 100123
  dd if=/dev/zero of="$TMP/shadow" oflag=seek_bytes seek=60000 bs=200000 count=1 conv=notrunc status=none
  dd if=/dev/zero of="$TMP/shadow" oflag=seek_bytes seek=4900000 bs=100123 count=1 conv=notrunc status=none
  rbd_export "$P/$W" "$TMP/w3.rbd"
  cmp "$TMP/w3.rbd" "$TMP/shadow" || fail "rbd export after discard differs ($layout)"
done

step "images created by core pass rbd info and read back through rbd export"
C=$(uniq created)
tool create "$P/$C" 3M --order 20 --stripe-unit 64K --stripe-count 3 --features layering || fail "create failed"
cleanup_image "$C"
rbd info "$P/$C" > "$TMP/info"
grep -q "size 3 MiB" "$TMP/info" || fail "rbd info size: $(cat "$TMP/info")"
grep -q "order 20" "$TMP/info" || fail "rbd info order"
grep -q "stripe unit: 64 KiB" "$TMP/info" || fail "rbd info stripe unit"
grep -q "stripe count: 3" "$TMP/info" || fail "rbd info stripe count"
grep -q "features: layering, striping" "$TMP/info" || fail "rbd info features: $(grep features "$TMP/info")"
head -c 3145728 /dev/urandom > "$TMP/c"
tool put "$P/$C" 0 < "$TMP/c"
rbd_export "$P/$C" "$TMP/c.rbd"
cmp "$TMP/c" "$TMP/c.rbd" || fail "rbd export of a core-created image differs"
tool create "$P/$C" 1M 2>"$TMP/err" && fail "creating an existing image succeeded"
grep -q EEXIST "$TMP/err" || fail "duplicate create: expected EEXIST"
tool create "$P/$(printf "n%.0s" $(seq 300))" 1M 2>"$TMP/err" && fail "an invalid name was accepted"
grep -q EINVAL "$TMP/err" || fail "invalid name: expected EINVAL"

step "resize: grow, shrink trims the tail"
tool resize "$P/$C" 5M
rbd info "$P/$C" | contains "size 5 MiB" || fail "grow not seen by rbd info"
tool resize "$P/$C" 1000000
rbd info "$P/$C" | contains "size 977 KiB" || fail "shrink not seen by rbd info: $(rbd info "$P/$C" | grep size)"
tool resize "$P/$C" 3M
rbd_export "$P/$C" "$TMP/c2.rbd"
cmp <(head -c 1000000 "$TMP/c") <(head -c 1000000 "$TMP/c2.rbd") || fail "data below the shrink point changed"
cmp <(tail -c +1000001 "$TMP/c2.rbd") <(head -c $((3145728 - 1000000)) /dev/zero) ||
  fail "data past the shrink point came back after growing"

step "snapshots through core are rbd snapshots"
tool snap-create "$P/$C@before" >/dev/null
head -c 4096 /dev/urandom | tool put "$P/$C" 0
rbd snap ls "$P/$C" | contains before || fail "rbd snap ls does not show the snapshot"
rbd_export "$P/$C@before" "$TMP/snap.rbd"
cmp "$TMP/snap.rbd" "$TMP/c2.rbd" || fail "snapshot content changed by a later write"
tool cat "$P/$C@before" > "$TMP/snap.core"
cmp "$TMP/snap.core" "$TMP/c2.rbd" || fail "core read of the snapshot differs"
rbd snap create "$P/$C@byrbd"
head -c 4096 /dev/urandom | tool put "$P/$C" 8192
rbd_export "$P/$C@byrbd" "$TMP/snap2.rbd"
tool cat "$P/$C@byrbd" > "$TMP/snap2.core"
cmp "$TMP/snap2.rbd" "$TMP/snap2.core" || fail "core read of an rbd snapshot differs"
tool snap-rename "$P/$C@before" renamed
rbd snap ls "$P/$C" | contains renamed || fail "snap rename not seen by rbd"
rbd snap protect "$P/$C@renamed"
tool snap-rm "$P/$C@renamed" 2>"$TMP/err" && fail "a protected snapshot was removed"
grep -q EBUSY "$TMP/err" || fail "protected snapshot removal: expected EBUSY"
rbd snap unprotect "$P/$C@renamed"
tool snap-rm "$P/$C@renamed"
tool snap-rm "$P/$C@byrbd"
expect_eq "$(rbd snap ls "$P/$C" | wc -l)" 0 "snapshots left"

step "rename, trash, restore, remove are what rbd sees"
R=$(uniq renamed)
tool rename "$P/$C" "$R"
cleanup_image "$R"
rbd ls "$P" | contains -x "$R" || fail "rename not in rbd ls"
rbd ls "$P" | contains -x "$C" && fail "old name still in rbd ls"
id=$(tool trash-mv "$P/$R")
rbd ls "$P" | contains -x "$R" && fail "trashed image still in rbd ls"
rbd trash ls "$P" | contains "$id *$R" || fail "rbd trash ls does not show $R: $(rbd trash ls "$P")"
rbd trash restore "$P/$id" || fail "rbd trash restore of a core-trashed image failed"
rbd_export "$P/$R" "$TMP/r.rbd"
rbd trash mv "$P/$R"
tool trash-restore "$P" "$id"
rbd ls "$P" | contains -x "$R" || fail "core trash-restore not seen by rbd ls"
tool cat "$P/$R" | cmp - "$TMP/r.rbd" || fail "content changed through the trash"
tool rm "$P/$R"
rbd ls "$P" | contains -x "$R" && fail "removed image still listed"
# clones of removed snapshots are trimmed by the OSD in the background
for _ in $(seq 1 60); do rados -p "$P" ls | contains "$id" || break; sleep 0.5; done
rados -p "$P" ls | contains "$id" && fail "objects of the removed image remain: $(rados -p "$P" ls | grep "$id")"

step "features rbdfs does not write (journaling): reads correct, writes refused with the reason"
D=$(uniq journal)
rbd import --no-progress --image-feature layering,exclusive-lock,journaling "$TMP/data5m" "$P/$D" >/dev/null
cleanup_image "$D"
tool cat "$P/$D" | cmp - "$TMP/data5m" || fail "read of a journaling image differs"
tool info "$P/$D" | contains "writable: no (features rbdfs cannot write safely yet: journaling)" ||
  fail "info does not state why: $(tool info "$P/$D" | grep writable)"
echo x | tool put "$P/$D" 0 2>"$TMP/err" && fail "write to a journaling image succeeded"
grep -q EROFS "$TMP/err" || fail "expected EROFS, got $(cat "$TMP/err")"
rbd export --no-progress "$P/$D" - 2>/dev/null | cmp - "$TMP/data5m" || fail "refused write changed the image"

step "default Pacific features: core writes them, the object map stays right, the lock is let go"
D2=$(uniq default)
rbd import --no-progress "$TMP/data5m" "$P/$D2" >/dev/null
cleanup_image "$D2"
cp "$TMP/data5m" "$TMP/d2.model"
head -c 70000 /dev/urandom > "$TMP/d2.chunk"
tool put "$P/$D2" 4190000 < "$TMP/d2.chunk" || fail "write to a default-feature image failed"
dd if="$TMP/d2.chunk" of="$TMP/d2.model" bs=70000 seek=4190000 oflag=seek_bytes conv=notrunc status=none
rbd export --no-progress "$P/$D2" - 2>/dev/null | cmp - "$TMP/d2.model" || fail "rbd export after a core write differs"
rbd object-map check --no-progress "$P/$D2" >/dev/null 2>&1 || fail "rbd object-map check failed"
expect_eq "$(rbd info --format json "$P/$D2" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["flags"])')" \
  "[]" "flags after a core write"
expect_eq "$(rbd lock ls --format json "$P/$D2")" "[]" "lockers after the tool exited"

step "images created by core get the cluster's default features and a valid object map"
C2=$(uniq created-deflt)
tool create "$P/$C2" 20M || fail "create failed"
cleanup_image "$C2"
expect_eq "$(rbd info --format json "$P/$C2" | /usr/bin/python3 -c 'import json,sys; print(",".join(json.load(sys.stdin)["features"]))')" \
  "layering,exclusive-lock,object-map,fast-diff,deep-flatten" "features of an image created by core"
head -c 3500000 /dev/urandom > "$TMP/c2"  # objects 1 and 2
tool put "$P/$C2" 5000000 < "$TMP/c2"
rbd object-map check --no-progress "$P/$C2" >/dev/null 2>&1 || fail "rbd object-map check of a created image failed"
expect_eq "$(rbd diff --format json "$P/$C2" | /usr/bin/python3 -c 'import json,sys; print(" ".join(str(e["offset"]) for e in json.load(sys.stdin)))')" \
  "4194304 8388608" "rbd diff (fast-diff) of a created image"

step "paged listing and ceph.conf discovery"
LP=$(uniq listpool)
ceph osd pool create "$LP" 8 >/dev/null 2>&1
rbd pool init "$LP"
CLEANUP+=("ceph osd pool rm $LP $LP --yes-i-really-really-mean-it >/dev/null 2>&1")
for i in $(seq 1 23); do tool create "$LP/img-$i" 1M; done
expect_eq "$(tool ls "$LP" --page-size 5)" "$(rbd ls "$LP")" "listing in pages of 5"
expect_eq "$(tool ls "$LP" --page-size 1 | wc -l)" 23 "listing in pages of 1"
tool pools | contains -x "$LP" || fail "pool $LP with the rbd application not listed"
NOAPP=$(uniq noapp)
ceph osd pool create "$NOAPP" 8 >/dev/null 2>&1
CLEANUP+=("ceph osd pool rm $NOAPP $NOAPP --yes-i-really-really-mean-it >/dev/null 2>&1")
tool pools | contains -x "$NOAPP" && fail "pool $NOAPP without the rbd application listed"
# $CEPH_CONF, then /etc/ceph/$cluster.conf, as Ceph finds its conf
CEPH_CONF=$CEPH_CONF "$TOOL" ls "$LP" | contains -x img-1 || fail "\$CEPH_CONF not used"
CL=rbdfstest$$
ln -sf "$CEPH_CONF" "/etc/ceph/$CL.conf"
CLEANUP+=("rm -f /etc/ceph/$CL.conf")
(unset CEPH_CONF; "$TOOL" --cluster "$CL" ls "$LP") | contains -x img-1 || fail "/etc/ceph/\$cluster.conf not used"
out=$(unset CEPH_CONF; "$TOOL" --cluster "nosuchcluster$$" ls "$LP" 2>&1 || true)
contains "no ceph.conf found" <<<"$out" || fail "a missing conf is not reported: $out"

step "errors: missing pool, missing image, wrong key, unreachable monitor"
tool ls no-such-pool 2>"$TMP/err" && fail "missing pool listed"
grep -q "pool no-such-pool: .*ENOENT" "$TMP/err" || fail "missing pool error: $(cat "$TMP/err")"
tool cat "$P/no-such-image" 2>"$TMP/err" && fail "missing image read"
grep -q "image $P/no-such-image: .*ENOENT" "$TMP/err" || fail "missing image error: $(cat "$TMP/err")"
ceph-authtool --create-keyring "$TMP/bad.keyring" --gen-key -n client.admin >/dev/null
start=$SECONDS
tool -k "$TMP/bad.keyring" --timeout 5 pools 2>"$TMP/err" && fail "a wrong key connected"
grep -q "authentication failed for client.admin" "$TMP/err" || fail "wrong key error: $(cat "$TMP/err")"
[ $((SECONDS - start)) -le 15 ] || fail "wrong key took $((SECONDS - start))s"
start=$SECONDS
"$TOOL" -m 127.0.0.254:6789 -k "$(dirname "$CEPH_CONF")/keyring" --timeout 3 pools 2>"$TMP/err" </dev/null &&
  fail "an unreachable monitor connected"
grep -q "no monitor answered within 3s" "$TMP/err" || fail "unreachable monitor error: $(cat "$TMP/err")"
[ $((SECONDS - start)) -le 10 ] || fail "unreachable monitor took $((SECONDS - start))s"
pass "core against rbd"
