#!/bin/bash
# The whole cluster in the tree (issue 13): RBD namespaces as directories
# (read, write, snapshots, mkdir/rmdir, a namespace sharing its name with an
# image, namespaces made and removed elsewhere), the .trash/ directory (list,
# xattrs, read, restore by mv, purge by rm, deferment, repeated names,
# migration entries hidden as `rbd trash ls` hides them), and ownership
# stored in image metadata (allow_other + default_permissions as a non-root
# user, across a remount and a second mount, uid=/gid=/umask= defaults).
# `rbd` and librbd are the oracles throughout.
. "$(dirname "$0")/lib.sh"
need_conf
# under /tmp, whatever TMPDIR says: user nobody must reach the mounts, and a
# checkout under a closed home directory (/root) would stop it on the way
TMPDIR=/tmp scratch
export LC_ALL=C
M=$TMP/mnt
P=$(uniq tree)  # a pool of our own: its namespaces and trash are ours alone
ceph osd pool create "$P" 8 >/dev/null 2>&1
CLEANUP+=("ceph osd pool rm $P $P --yes-i-really-really-mean-it >/dev/null 2>&1")
rbd pool init "$P"

pattern() { head -c "$2" /dev/urandom >"$TMP/$1"; }
same_as_rbd() {  # <pool/[ns/]image[@snap]> <file>
  rbd_export "$1" "$TMP/x.rbd"
  cmp "$2" "$TMP/x.rbd" || fail "$2 differs from rbd export $1"
}
write_at() {  # <file> <pattern file> <offset>
  dd if="$TMP/$2" of="$1" bs=4096 seek="$(($3 / 4096))" conv=notrunc,fsync status=none
}

step "namespaces: two of them and the default one, made by rbd"
rbd namespace create "$P/nsa"
rbd namespace create "$P/nsb"
rbd create -s 12M "$P/nsa/img"                          # Pacific's default features
rbd create -s 8M --image-feature layering "$P/nsb/img"  # same name, another namespace
rbd create -s 6M "$P/plain"
rbd create -s 4M "$P/nsa"  # an image of the default namespace named like a namespace
pattern imp 3000000
rbd import --no-progress "$TMP/imp" "$P/nsb/imp"
mount_rbdfs "$M"
expect_eq "$(ls -A "$M/$P" | tr '\n' ' ')" ".snap .trash nsa nsa@ns nsb plain " "pool listing"
expect_eq "$(ls -A "$M/$P/nsb" | tr '\n' ' ')" ".snap .trash img imp " "namespace listing"
[ -f "$M/$P/nsa" ] && [ -d "$M/$P/nsa@ns" ] || fail "the image nsa and the namespace nsa@ns"
cmp <(head -c 3000000 "$M/$P/nsb/imp") "$TMP/imp" || fail "an image rbd imported into a namespace"
pattern a 1048576
pattern b 524288
pattern c 65536
write_at "$M/$P/nsa@ns/img" a 4194304
write_at "$M/$P/nsb/img" b 0
write_at "$M/$P/plain" c 65536
write_at "$M/$P/nsa" c 0
same_as_rbd "$P/nsa/img" "$M/$P/nsa@ns/img"
same_as_rbd "$P/nsb/img" "$M/$P/nsb/img"
same_as_rbd "$P/plain" "$M/$P/plain"
same_as_rbd "$P/nsa" "$M/$P/nsa"
cmp -s "$M/$P/nsa@ns/img" "$M/$P/nsb/img" && fail "two namespaces' images of one name are one image"
rbd object-map check "$P/nsa/img" >/dev/null 2>&1 || fail "object map of $P/nsa/img not clean"
pass "namespaced images read and write equal to rbd export; the clash shows both"

step "snapshots in a namespace"
rbd snap create "$P/nsb/img@s1" >/dev/null 2>&1
write_at "$M/$P/nsb/img" c 0
same_as_rbd "$P/nsb/img@s1" "$M/$P/nsb/.snap/img/s1"
touch "$M/$P/nsb/.snap/img/s2"
rbd snap ls "$P/nsb/img" | contains -w s2 || fail "touch in a namespace's .snap made no snapshot"
same_as_rbd "$P/nsb/img@s2" "$M/$P/nsb/.snap/img/s2"
pass "a namespace's .snap/ reads and takes snapshots"

step "the seeded exerciser on images in a namespace (default features), mount and core"
EX=$BUILD/tools/rbdfs-exercise
for run in "mount 1301 5000123" "mount 1302 1048583" "core 1311 3000000"; do
  read -r target seed size <<<"$run"
  img=ex-$target-$seed
  rbd create --size "${size}B" "$P/nsb/$img"
  targ=core
  [ "$target" = mount ] && targ=mount:$M/$P/nsb/$img
  "$EX" --seed "$seed" --ops 300 --image "$P/nsb/$img" --target "$targ" -c "$CEPH_CONF" --id admin \
    --model-dir "$TMP" --op-timeout 120 >"$TMP/ex.out" 2>&1 ||
    { cat "$TMP/ex.out" >&2; fail "exerciser $target seed $seed on $P/nsb/$img (replay: see above)"; }
  rbd snap purge "$P/nsb/$img" >/dev/null 2>&1
  rbd rm --no-progress "$P/nsb/$img" >/dev/null
done
pass "the exerciser agrees with its model and rbd export in a namespace"

step "mkdir/rmdir: namespaces"
mkdir "$M/$P/nsc"
rbd namespace ls "$P" | contains -w nsc || fail "mkdir made no namespace"
truncate -s 2M "$M/$P/nsc/n1"
rbd ls "$P/nsc" | contains -x n1 || fail "an image created in a namespace directory"
expect_fail "Directory not empty" rmdir "$M/$P/nsc"
rm "$M/$P/nsc/n1"  # to the namespace's trash: still not empty
rbd trash ls "$P/nsc" | contains -w n1 || fail "rm in a namespace trashes there"
expect_fail "Directory not empty" rmdir "$M/$P/nsc"
rm "$M/$P/nsc/.trash/n1"
rmdir "$M/$P/nsc"
rbd namespace ls "$P" | contains -w nsc && fail "rmdir left the namespace"
expect_fail "File exists" mkdir "$M/$P/plain"
rbd create -s 1M "$P/fresh"  # made elsewhere: the kernel may not know it yet
expect_fail "File exists" mkdir "$M/$P/fresh"
rbd namespace ls "$P" | contains -w fresh && fail "mkdir made a namespace beside an image"
expect_fail "Operation not permitted" mkdir "$M/$P/nsa@ns/deeper"
rbd namespace create "$P/nsd"  # made elsewhere: appears within seconds
sleep 2.5
ls "$M/$P" | contains -x nsd || fail "a namespace rbd made did not appear"
rbd namespace remove "$P/nsd"
sleep 2.5
ls "$M/$P" >"$TMP/ls" || fail "listing $P"
contains -x nsd <"$TMP/ls" && fail "a namespace rbd removed did not vanish"
[ -e "$M/$P/nsd" ] && fail "a removed namespace still resolves"
pass "mkdir/rmdir create and remove namespaces; ENOTEMPTY; others' changes show within seconds"

step "trash: rm, list, xattrs, read, restore by mv"
rbd_export "$P/plain" "$TMP/plain.before"
plain_id=$(rbd info --format json "$P/plain" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
rm "$M/$P/plain"
expect_eq "$(ls "$M/$P/.trash")" "plain" "trash listing"
rbd trash ls "$P" | contains -w plain || fail "rm did not trash"
expect_eq "$(stat -c %a "$M/$P/.trash/plain")" "444" "a trashed image is read-only"
expect_eq "$(stat -c %s "$M/$P/.trash/plain")" "6291456" "trashed image size"
expect_eq "$(getfattr --absolute-names --only-values -n user.rbd.trash.id "$M/$P/.trash/plain")" "$plain_id" "trash id xattr"
expect_eq "$(getfattr --absolute-names --only-values -n user.rbd.trash.source "$M/$P/.trash/plain")" "user" "trash source"
getfattr --absolute-names --only-values -n user.rbd.trash.deletion_time "$M/$P/.trash/plain" | contains "^$(date -u +%Y-%m-%d)T" ||
  fail "trash deletion time"
cmp "$M/$P/.trash/plain" "$TMP/plain.before" || fail "a trashed image reads its data"
expect_fail "Read-only file system" dd if=/dev/zero of="$M/$P/.trash/plain" bs=4k count=1 conv=notrunc
mv "$M/$P/.trash/plain" "$M/$P/restored"
rbd trash ls "$P" | contains -w plain && fail "mv out of .trash left it in the trash"
same_as_rbd "$P/restored" "$TMP/plain.before"
pass "trashed images list, read, carry user.rbd.trash.*, and restore under a new name"

step "trash: rm purges (objects gone); deferment; repeated names; migration hidden"
prefix=$(rbd info --format json "$P/restored" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["block_name_prefix"])')
rm "$M/$P/restored"
rm "$M/$P/.trash/restored"
rbd trash ls "$P" | contains -w restored && fail "rm in .trash left the entry"
rados -p "$P" ls | contains "$prefix\|rbd_header.$plain_id\|rbd_object_map.$plain_id" &&
  fail "rm in .trash left objects: $(rados -p "$P" ls | grep -e "$prefix" -e "$plain_id" | head -3)"
rbd create -s 1M "$P/later"
rbd trash mv --expires-at "1 hour" "$P/later"
sleep 1.2
expect_fail "Operation not permitted" rm "$M/$P/.trash/later"
rbd trash ls "$P" | contains -w later || fail "an image in its deferment was removed"
mount_rbdfs "$TMP/force" -o trash_force
rm "$TMP/force/$P/.trash/later"
rbd trash ls "$P" | contains -w later && fail "trash_force did not remove"
rbd create -s 1M "$P/dup"
rbd trash mv "$P/dup"
rbd create -s 2M "$P/dup"
rbd trash mv "$P/dup"
sleep 1.2
expect_eq "$(ls "$M/$P/.trash" | grep -c '^dup@')" "2" "a name trashed twice shows as name@id"
first=$(ls "$M/$P/.trash" | grep '^dup@' | head -1)
mv "$M/$P/.trash/$first" "$M/$P/dup-back"
rbd ls "$P" | contains -x dup-back || fail "restoring name@id"
rbd create -s 1M "$P/mig-src"
rbd migration prepare "$P/mig-src" "$P/mig-dst" >/dev/null
CLEANUP+=("rbd migration abort $P/mig-dst >/dev/null 2>&1")
sleep 1.2
ls "$M/$P/.trash" >"$TMP/ls" || fail "listing .trash"
rbd trash ls --all "$P" | contains mig-src || fail "no migration source in the trash"
contains mig-src <"$TMP/ls" && fail "a migration source shows in .trash (rbd trash ls hides it)"
rbd migration abort "$P/mig-dst" >/dev/null 2>&1
rbd create -s 1M "$P/nsb/gone"
rm "$M/$P/nsb/gone"
ls "$M/$P/nsb/.trash" >"$TMP/ls" || fail "listing a namespace's .trash"
contains -x gone <"$TMP/ls" || fail "a namespace's .trash"
# a namespaced image with its data in another pool: the purge finds the
# data objects in that pool's namespace of the same name
DP=$(uniq treedata)
ceph osd pool create "$DP" 8 >/dev/null 2>&1
CLEANUP+=("ceph osd pool rm $DP $DP --yes-i-really-really-mean-it >/dev/null 2>&1")
rbd pool init "$DP"
rbd create -s 3M --data-pool "$DP" "$P/nsb/dp"
write_at "$M/$P/nsb/dp" a 0
expect_eq "$(rados -p "$DP" -N nsb ls | grep -c rbd_data)" "1" "data objects in the data pool's namespace"
rm "$M/$P/nsb/dp"
rm "$M/$P/nsb/.trash/dp"
expect_eq "$(rados -p "$DP" --all ls | grep -c rbd_data || true)" "0" "data objects left after the purge"
pass "purge removes the objects, deferment gives EPERM unless trash_force, repeats as name@id"

step "ownership: allow_other + default_permissions, as a non-root user"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
chmod 755 "$TMP"  # mktemp's 0700 would stop the user before the mount
as_nobody test -x "$TMP" || fail "user nobody cannot reach $TMP (a parent directory is closed)"
umount_rbdfs "$M"
mount_rbdfs "$M" -o allow_other,default_permissions
rbd create -s 1M --image-feature layering "$P/own1"
rbd create -s 1M --image-feature layering "$P/own2"
chown nobody:nogroup "$M/$P/own1"
chmod 600 "$M/$P/own2"
expect_eq "$(rbd image-meta get "$P/own1" rbdfs.uid)" "65534" "uid in the image metadata"
expect_eq "$(rbd image-meta get "$P/own2" rbdfs.mode)" "0600" "mode in the image metadata"
echo owned | as_nobody dd of="$M/$P/own1" conv=notrunc status=none 2>/dev/null ||
  fail "the user an image was chowned to cannot write it"
rbd_export "$P/own1" "$TMP/own1"
head -c 6 "$TMP/own1" | contains owned || fail "its write"
expect_fail "Permission denied" as_nobody cat "$M/$P/own2"
expect_fail "Operation not permitted" as_nobody chmod 666 "$M/$P/own2"
umount_rbdfs "$M"
mount_rbdfs "$M" -o allow_other,default_permissions
expect_eq "$(stat -c %U:%G:%a "$M/$P/own1")" "nobody:nogroup:644" "owner after a remount"
expect_eq "$(stat -c %U:%a "$M/$P/own2")" "root:600" "mode after a remount"
mount_rbdfs "$TMP/other" -o allow_other,default_permissions  # another machine's mount
expect_eq "$(stat -c %U:%G "$TMP/other/$P/own1")" "nobody:nogroup" "owner seen by a second mount"
chown daemon "$TMP/other/$P/own2"
sleep 2.5
expect_eq "$(stat -c %U "$M/$P/own2")" "daemon" "a chown through the other mount"
expect_fail "Permission denied" as_nobody cat "$M/$P/own2"
rbd image-meta set "$P/own1" rbdfs.mode 04755
sleep 2.5
expect_eq "$(stat -c %a "$M/$P/own1")" "755" "a setuid bit from the metadata"
# without default_permissions the kernel checks nothing: rbdfs applies
# chown(2)'s and chmod(2)'s rules itself
mount_rbdfs "$TMP/nodp" -o allow_other
expect_fail "Operation not permitted" as_nobody chown nobody "$TMP/nodp/$P/own2"
expect_fail "Operation not permitted" as_nobody chown daemon "$TMP/nodp/$P/own2"  # even a no-op
expect_fail "Operation not permitted" as_nobody chmod 666 "$TMP/nodp/$P/own2"
expect_fail "Operation not permitted" as_nobody chgrp daemon "$TMP/nodp/$P/own1"
as_nobody chmod 640 "$TMP/nodp/$P/own1" || fail "the owner's chmod"
expect_eq "$(rbd image-meta get "$P/own1" rbdfs.mode)" "0640" "the owner's chmod, stored"
as_nobody chmod 4755 "$TMP/nodp/$P/own1"
expect_eq "$(rbd image-meta get "$P/own1" rbdfs.mode)" "0755" "setuid is never stored"
pass "ownership stored in image metadata is enforced, survives a remount, is shared"

step "defaults: uid=, gid=, umask= for what has nothing stored"
mount_rbdfs "$TMP/def" -o allow_other,default_permissions,uid=65534,gid=65534,umask=077
rbd create -s 1M --image-feature layering "$P/plain2"
expect_eq "$(stat -c %u:%g:%a "$TMP/def/$P/plain2")" "65534:65534:600" "an image without ownership"
expect_eq "$(stat -c %u:%a "$TMP/def/$P")" "65534:700" "a pool directory"
expect_eq "$(stat -c %U:%a "$TMP/def/$P/own2")" "daemon:600" "stored ownership wins over defaults"
echo x | as_nobody dd of="$TMP/def/$P/plain2" conv=notrunc status=none 2>/dev/null ||
  fail "the uid= user cannot write"
as_nobody truncate -s 1M "$TMP/def/$P/byuser"
expect_eq "$(stat -c %u "$M/$P/byuser")" "65534" "an image made by a user is its (seen elsewhere)"
pass "uid=/gid=/umask= apply where nothing is stored"
