#!/bin/bash
# What rbdfs is for: losetup + mkfs.ext4 on an image file, qemu-io with
# cache=none, qemu-img convert in and out, mount -t fuse.rbdfs / fstab
# options, and a mount that fails with the reason.
. "$(dirname "$0")/lib.sh"
need_conf
scratch
M=$TMP/mnt
P=rbd
mount_rbdfs "$M"

step "losetup + mkfs.ext4 + mount + write; the exported image passes e2fsck"
L=$(uniq loop)
rbd create --size 64M --image-feature layering "$P/$L"
CLEANUP+=("rbd rm $P/$L >/dev/null 2>&1")
sleep 1.1
dev=$(losetup -f --show "$M/$P/$L") || fail "losetup failed"
CLEANUP+=("losetup -d $dev 2>/dev/null")
mkfs.ext4 -q -F "$dev" || fail "mkfs.ext4 on the loop device failed"
mkdir -p "$TMP/fs"
mount "$dev" "$TMP/fs" || fail "mounting the ext4 failed"
CLEANUP+=("umount '$TMP/fs' 2>/dev/null")
head -c 3000000 /dev/urandom > "$TMP/payload"
cp "$TMP/payload" "$TMP/fs/payload"
mkdir "$TMP/fs/dir" && echo hello > "$TMP/fs/dir/hello"
umount "$TMP/fs" || fail "umount of the ext4 failed"
losetup -d "$dev"
rbd_export "$P/$L" "$TMP/fs.img"
e2fsck -fn "$TMP/fs.img" >"$TMP/fsck" 2>&1 || { cat "$TMP/fsck"; fail "e2fsck found errors in the exported image"; }
debugfs -R "cat /payload" "$TMP/fs.img" 2>/dev/null | cmp - "$TMP/payload" || fail "file inside the exported ext4 differs"

step "qemu-io -t none writes and reads a pattern"
Q=$(uniq qemu)
rbd create --size 32M --image-feature layering "$P/$Q"
CLEANUP+=("rbd rm $P/$Q >/dev/null 2>&1")
sleep 1.1
qemu-io -f raw -t none -c "write -P 0xab 1M 3M" -c "write -P 0xcd 30M 64k" "$M/$P/$Q" >"$TMP/qio" 2>&1 ||
  { cat "$TMP/qio"; fail "qemu-io write failed"; }
qemu-io -f raw -t none -c "read -P 0xab 1M 3M" -c "read -P 0xcd 30M 64k" -c "read -P 0 0 1M" "$M/$P/$Q" >"$TMP/qio" 2>&1 ||
  { cat "$TMP/qio"; fail "qemu-io read failed"; }
contains "Pattern verification failed" < "$TMP/qio" && fail "qemu-io pattern mismatch: $(cat "$TMP/qio")"
rbd_export "$P/$Q" "$TMP/q.rbd"
cmp <(dd if="$TMP/q.rbd" bs=1M skip=1 count=3 status=none) <(head -c 3145728 /dev/zero | tr '\0' '\253') ||
  fail "rbd export does not hold qemu-io's pattern"

step "qemu-img convert into and out of the mount"
head -c 5000000 /dev/urandom > "$TMP/raw"
qemu-img convert -f raw -O qcow2 "$TMP/raw" "$TMP/disk.qcow2"
QI=$(uniq qimg)
qemu-img convert -f qcow2 -O raw -t none "$TMP/disk.qcow2" "$M/$P/$QI" || fail "qemu-img convert into the mount failed"
CLEANUP+=("rbd rm $P/$QI >/dev/null 2>&1")
rbd_export "$P/$QI" "$TMP/qi.rbd"
cmp <(head -c 5000000 "$TMP/qi.rbd") "$TMP/raw" || fail "image written by qemu-img convert differs"
qemu-img convert -f raw -O raw "$M/$P/$QI" "$TMP/out.raw" || fail "qemu-img convert out of the mount failed"
cmp <(head -c 5000000 "$TMP/out.raw") "$TMP/raw" || fail "qemu-img convert out of the mount differs"
qemu-img compare -f raw -F raw "$M/$P/$QI" "$TMP/qi.rbd" >/dev/null || fail "qemu-img compare differs"

step "mount -t fuse.rbdfs with -o options, and umount"
installed=$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v rbdfs) ||
  fail "rbdfs is not installed in the system PATH (tools/check runs cmake --install)"
cmp "$installed" "$RBDFS" || fail "$installed is not the binary under test"
[ -e /sbin/mount.fuse.rbdfs ] || fail "/sbin/mount.fuse.rbdfs helper is not installed"
M2=$TMP/mnt2
mkdir -p "$M2"
mount -t fuse.rbdfs ceph "$M2" -o "conf=$CEPH_CONF,id=admin,_netdev,pool=$P,read_only" || fail "mount -t fuse.rbdfs failed"
CLEANUP+=("umount_rbdfs '$M2'")
awk -v m="$M2" '$2 == m' /proc/mounts | contains "^ceph $M2 fuse.rbdfs ro" || fail "/proc/mounts: $(grep "$M2" /proc/mounts)"
expect_eq "$(ls "$M2")" "$P" "pools shown with pool=$P"
cmp "$M2/$P/$QI" "$M/$P/$QI" || fail "read through the second mount differs"
expect_fail "Read-only file system" touch "$M2/$P/x"
umount "$M2" || fail "umount failed"
awk -v m="$M2" '$2 == m { f = 1 } END { exit f }' /proc/mounts || fail "still mounted after umount"
mount -t fuse.rbdfs ceph "$M2" -o "conf=$CEPH_CONF,id=admin,pool=no-such-pool" 2>"$TMP/err" && fail "mount with a missing pool succeeded"
contains "pool 'no-such-pool'" < "$TMP/err" || fail "missing pool: $(cat "$TMP/err")"

step "a wrong key makes the mount fail with the reason"
ceph-authtool --create-keyring "$TMP/bad.keyring" --gen-key -n client.admin >/dev/null
"$RBDFS" ceph "$M2" -c "$CEPH_CONF" -k "$TMP/bad.keyring" 2>"$TMP/err" && fail "mount with a wrong key succeeded"
contains "authentication failed for client.admin" < "$TMP/err" || fail "wrong key: $(cat "$TMP/err")"
awk -v m="$M2" '$2 == m { f = 1 } END { exit f }' /proc/mounts || fail "a failed mount left a mount behind"
pass "consumers"
