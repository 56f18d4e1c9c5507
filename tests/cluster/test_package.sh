#!/bin/bash
# The Debian package: `cpack -G DEB` builds it from the install rules, its
# files and Depends (Debian's names) are checked with dpkg-deb, apt-get
# installs it in place of the build-tree install, mount -t fuse.rbdfs and an
# fstab line with _netdev mount with the packaged /usr/bin/rbdfs, and
# apt-get remove removes it. The build-tree install (/usr/local and the
# /sbin/mount.fuse.rbdfs that dpkg replaced and removed) is restored at exit.
# Shares the "mount_helper" resource lock with the other tests that use it.
. "$(dirname "$0")/lib.sh"
need_conf
scratch
P=rbd
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -y -o DPkg::Lock::Timeout=300)

installed() { dpkg-query -W -f='${Status}' rbdfs 2>/dev/null | contains "install ok installed"; }
restore_build_install() {
  if installed; then "${APT[@]}" remove rbdfs >/dev/null 2>&1; fi
  cmake --install "$BUILD" --prefix /usr/local >/dev/null
}
CLEANUP+=("restore_build_install")
# the daemon serving a mountpoint, started by mount.fuse3 as `rbdfs ceph MNT -o ...`
daemon_pid() { pgrep -f -- "^rbdfs ceph $1 " | head -1; }
expect_packaged_daemon() {
  local pid
  pid=$(daemon_pid "$1") || fail "no rbdfs daemon serves $1"
  expect_eq "$(readlink "/proc/$pid/exe")" /usr/bin/rbdfs "the daemon serving $1"
}
expect_unmounted() {
  awk -v m="$1" '$2 == m { f = 1 } END { exit f }' /proc/mounts || fail "$1 is still mounted"
}

if installed; then
  step "rbdfs is installed (left from an aborted run): removing it first"
  "${APT[@]}" remove rbdfs >/dev/null || fail "could not remove the installed rbdfs package"
fi

step "cpack -G DEB"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt")
[ -n "$version" ] || fail "no project version in $BUILD/CMakeCache.txt"
(cd "$TMP" && cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$TMP/pkg") >"$TMP/cpack.log" 2>&1 ||
  { cat "$TMP/cpack.log"; fail "cpack -G DEB failed"; }
arch=$(dpkg --print-architecture)
DEB=$TMP/pkg/rbdfs_${version}_$arch.deb
[ -f "$DEB" ] || fail "cpack made no $DEB: $(ls "$TMP/pkg")"

step "dpkg-deb: the file list"
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ { $1 = $2 = $3 = $4 = $5 = ""; sub(/^ +/, ""); print }' | sort >"$TMP/files"
expect_eq "$(cat "$TMP/files")" "./usr/bin/rbdfs
./usr/sbin/mount.fuse.rbdfs -> /sbin/mount.fuse3
./usr/share/man/man8/rbdfs.8" "the package's files"
dpkg-deb -c "$DEB" | contains -e "usr/local" -e "$BUILD" -e "$TMP" -e " \./sbin" &&
  fail "the package holds a path of the build tree, /usr/local or /sbin: $(dpkg-deb -c "$DEB")"

step "dpkg-deb: the control fields"
expect_eq "$(dpkg-deb -f "$DEB" Package)" rbdfs "Package"
expect_eq "$(dpkg-deb -f "$DEB" Version)" "$version" "Version"
expect_eq "$(dpkg-deb -f "$DEB" Architecture)" "$arch" "Architecture"
expect_eq "$(dpkg-deb -f "$DEB" Section)" admin "Section"
[ -n "$(dpkg-deb -f "$DEB" Maintainer)" ] || fail "no Maintainer"
dpkg-deb -f "$DEB" Description | contains -i "ceph" || fail "Description: $(dpkg-deb -f "$DEB" Description)"
depends=$(dpkg-deb -f "$DEB" Depends)
tr ',' '\n' <<<"$depends" | sed 's/^ *//; s/ .*//' >"$TMP/depends"
for p in fuse3 librados2 libfuse3-3 libboost-program-options1.74.0 libc6 libstdc++6; do
  contains -Fx -- "$p" <"$TMP/depends" || fail "Depends lacks $p: $depends"
done

step "apt-get install of the .deb, in place of the build-tree install"
# mount.fuse3 runs `rbdfs` from a PATH where /usr/local/bin comes first
rm -f /usr/local/bin/rbdfs
"${APT[@]}" install "$DEB" >"$TMP/apt.log" 2>&1 || { cat "$TMP/apt.log"; fail "apt-get install failed"; }
installed || fail "rbdfs is not installed after apt-get install"
expect_eq "$(dpkg-query -W -f='${Version}' rbdfs)" "$version" "installed version"
dpkg -L rbdfs >"$TMP/list" || fail "dpkg -L rbdfs failed"
for f in /usr/bin/rbdfs /usr/sbin/mount.fuse.rbdfs /usr/share/man/man8/rbdfs.8; do
  contains -x -- "$f" <"$TMP/list" || fail "dpkg -L rbdfs lacks $f: $(cat "$TMP/list")"
  [ -e "$f" ] || fail "$f is not on disk"
done
# the path mount(8) looks up (/sbin is /usr/sbin on merged /usr)
expect_eq "$(readlink -f /sbin/mount.fuse.rbdfs)" "$(readlink -f /sbin/mount.fuse3)" "/sbin/mount.fuse.rbdfs"
readelf -d /usr/bin/rbdfs | contains -E "RPATH|RUNPATH" &&
  fail "/usr/bin/rbdfs has a run path: $(readelf -d /usr/bin/rbdfs | grep -E 'RPATH|RUNPATH')"
strings /usr/bin/rbdfs | contains -F -- "$BUILD" && fail "/usr/bin/rbdfs refers to the build tree $BUILD"
ldd /usr/bin/rbdfs | contains "not found" && fail "/usr/bin/rbdfs misses libraries: $(ldd /usr/bin/rbdfs)"
expect_eq "$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v rbdfs)" /usr/bin/rbdfs "rbdfs in PATH"
/usr/bin/rbdfs --version | contains -F -- "$version" || fail "/usr/bin/rbdfs --version: $(/usr/bin/rbdfs --version)"

step "mount -t fuse.rbdfs with the packaged binary: write, read, rbd export"
IMG=$(uniq pkg)
rbd create --size 8M --image-feature layering "$P/$IMG"
CLEANUP+=("rbd rm $P/$IMG >/dev/null 2>&1")
M=$TMP/mnt
mkdir -p "$M"
mount -t fuse.rbdfs ceph "$M" -o "conf=$CEPH_CONF,id=admin,_netdev,pool=$P" ||
  fail "mount -t fuse.rbdfs failed"
CLEANUP+=("umount_rbdfs '$M'")
awk -v m="$M" '$2 == m' /proc/mounts | contains "^ceph $M fuse.rbdfs rw" || fail "/proc/mounts: $(grep "$M" /proc/mounts)"
expect_packaged_daemon "$M"
head -c 1048576 /dev/urandom >"$TMP/payload"
dd if="$TMP/payload" of="$M/$P/$IMG" bs=64k seek=16 conv=notrunc,fsync status=none || fail "write through the mount failed"
rbd_export "$P/$IMG" "$TMP/img.rbd"
cmp <(dd if="$TMP/img.rbd" bs=64k skip=16 count=16 status=none) "$TMP/payload" || fail "rbd export does not hold the write"
cmp "$M/$P/$IMG" "$TMP/img.rbd" || fail "read through the mount differs from rbd export"
umount "$M" || fail "umount failed"
expect_unmounted "$M"

step "without the build tree: hidden under a tmpfs in a mount namespace of its own"
# everything inside one private namespace: the FUSE mount never shows outside
BUILD_REAL=$(readlink -f "$BUILD")
M3=$TMP/mnt3
mkdir -p "$M3"
unshare --mount --propagation private bash -euo pipefail -c '
  mount -t tmpfs none "$1"                       # the build tree is gone here
  [ -z "$(ls -A "$1")" ] || exit 11
  mount -t fuse.rbdfs ceph "$2" -o "conf=$3,id=admin,pool=$4" || exit 12
  cmp "$2/$4/$5" "$6" || { umount "$2"; exit 13; }
  umount "$2"
' _ "$BUILD_REAL" "$M3" "$CEPH_CONF" "$P" "$IMG" "$TMP/img.rbd" ||
  fail "the package without the build tree (exit $?: 11 tmpfs, 12 mount, 13 read)"
pass "the packaged rbdfs mounts and reads with the build tree hidden"

step "an fstab line with _netdev (mount -T, /etc/fstab untouched)"
M2=$TMP/mnt2
mkdir -p "$M2"
echo "ceph $M2 fuse.rbdfs _netdev,conf=$CEPH_CONF,id=admin,pool=$P,read_only 0 0" >"$TMP/fstab"
mount -T "$TMP/fstab" "$M2" || fail "mount -T $TMP/fstab $M2 failed"
CLEANUP+=("umount_rbdfs '$M2'")
awk -v m="$M2" '$2 == m' /proc/mounts | contains "^ceph $M2 fuse.rbdfs ro" || fail "/proc/mounts: $(grep "$M2" /proc/mounts)"
expect_packaged_daemon "$M2"
cmp "$M2/$P/$IMG" "$TMP/img.rbd" || fail "read through the fstab mount differs from rbd export"
expect_fail "Read-only file system" touch "$M2/$P/x"
umount "$M2" || fail "umount of the fstab mount failed"
expect_unmounted "$M2"
# and as the boot does it: every _netdev line of the file
mount -a -T "$TMP/fstab" -O _netdev || fail "mount -a -O _netdev failed"
awk -v m="$M2" '$2 == m' /proc/mounts | contains "^ceph $M2 fuse.rbdfs ro" || fail "mount -a -O _netdev did not mount $M2"
umount "$M2" || fail "umount after mount -a failed"
expect_unmounted "$M2"
for _ in $(seq 50); do pgrep -f -- "^rbdfs ceph $TMP/" >/dev/null || break; sleep 0.1; done
pgrep -f -- "^rbdfs ceph $TMP/" >/dev/null && fail "an rbdfs daemon outlived its unmount: $(pgrep -af -- "^rbdfs ceph $TMP/")"

step "apt-get remove"
"${APT[@]}" remove rbdfs >"$TMP/apt.log" 2>&1 || { cat "$TMP/apt.log"; fail "apt-get remove failed"; }
contains -i -e "warning" -e "error" <"$TMP/apt.log" && fail "apt-get remove complained: $(cat "$TMP/apt.log")"
installed && fail "rbdfs is still installed"
dpkg -L rbdfs >/dev/null 2>&1 && fail "dpkg -L rbdfs still lists files"
for f in /usr/bin/rbdfs /usr/sbin/mount.fuse.rbdfs /usr/share/man/man8/rbdfs.8; do
  if [ -e "$f" ] || [ -L "$f" ]; then fail "$f is left after apt-get remove"; fi
done
[ -e /sbin/mount.fuse3 ] || fail "removing rbdfs took /sbin/mount.fuse3 with it"

step "the build-tree install is back"
restore_build_install
[ -e /sbin/mount.fuse.rbdfs ] || fail "/sbin/mount.fuse.rbdfs is not restored"
cmp /usr/local/bin/rbdfs "$RBDFS" || fail "/usr/local/bin/rbdfs is not the build's binary"
pass "package"
