#!/bin/bash
# A real VM on an image file, through libvirt: the test starts its own
# libvirtd (qemu:///system) and virtlogd, defines a TCG domain (type='qemu')
# whose virtio disk is <disk type='file'> on an image in the mount
# (allow_other,default_permissions) with cache='none'. The image is root's,
# mode 0600: only libvirt's DAC chown to the qemu user, which rbdfs keeps in
# the image metadata, lets the qemu process open it. The guest (Debian's cloud
# kernel and an initramfs built here from busybox-static and the kernel's
# virtio modules, loaded in dependency order) writes a pattern across
# objects, reads it back past its page cache, prints its checksum on the
# serial console and powers off; rbd export must hold exactly the pattern,
# and libvirt must have given the file back to root.
. "$(dirname "$0")/lib.sh"
need_conf
# under /tmp, whatever TMPDIR says: the qemu user must reach it, and a
# checkout under a closed home directory (/root) would stop it on the way
TMPDIR=/tmp scratch
chmod 755 "$TMP"
P=rbd
MIB=$((1024 * 1024))
MARKER_OFF=$((60 * MIB + 12345))
MARKER=rbdfs-vm-marker

# the qemu user must reach the kernel, initramfs and mount through $TMP
d=$TMP
while [ "$d" != / ]; do
  [ $(( $(stat -c '%#a' "$d") & 1 )) -eq 1 ] || fail "$d is not traversable by others; the qemu user needs it"
  d=$(dirname "$d")
done

for c in libvirtd virtlogd virsh qemu-system-x86_64 modinfo cpio; do
  command -v "$c" >/dev/null || fail "$c is missing: run tools/install-deps"
done
QUSER=libvirt-qemu
QUID=$(id -u "$QUSER") || fail "no $QUSER user: libvirt-daemon-system is not installed"
QGID=$(getent group "$QUSER" | cut -d: -f3) # qemu.conf's group, Debian's default
[ -n "$QGID" ] || fail "no $QUSER group"

step "guest: the cloud kernel and an initramfs of busybox-static and the virtio modules"
KERNEL=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -1)
[ -n "$KERNEL" ] || fail "no /boot/vmlinuz-*-cloud-amd64: run tools/install-deps (linux-image-cloud-amd64)"
KVER=${KERNEL#/boot/vmlinuz-}
[ -d "/lib/modules/$KVER" ] || fail "no /lib/modules/$KVER"
cp "$KERNEL" "$TMP/vmlinuz"
BUSYBOX=/bin/busybox
file -L "$BUSYBOX" | contains 'statically linked' || fail "$BUSYBOX is not static: install busybox-static"
R=$TMP/initramfs
mkdir -p "$R"/{bin,dev,proc,sys,lib/modules}
cp "$BUSYBOX" "$R/bin/busybox"
ln -s busybox "$R/bin/sh"
# modules in dependency order (a dependency before its users); built-ins skipped
MODS=()
add_mod() {
  local name=$1 dep have f
  for have in "${MODS[@]}"; do [ "$have" != "$name" ] || return 0; done
  f=$(modinfo -k "$KVER" -F filename "$name") || fail "modinfo: no module $name in $KVER"
  [[ $f == /* ]] || return 0 # (builtin)
  for dep in $(modinfo -k "$KVER" -F depends "$name" | tr ',' ' '); do add_mod "$dep"; done
  MODS+=("$name")
  case "$f" in
    *.ko.xz) xz -dc "$f" ;;
    *.ko.zst) zstd -qdc "$f" ;;
    *) cat "$f" ;;
  esac >"$R/lib/modules/$name.ko"
}
for m in virtio_ring virtio virtio_pci virtio_blk; do add_mod "$m"; done
printf '%s\n' "${MODS[@]}" >"$R/modules"
head -c $((5 * MIB)) /dev/urandom >"$TMP/payload"
cp "$TMP/payload" "$R/payload"
cat >"$R/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in \$(cat /modules); do insmod /lib/modules/\$m.ko || echo "RBDFS-VM insmod \$m failed"; done
n=0
while [ ! -b /dev/vda ] && [ \$n -lt 100 ]; do sleep 0.1; n=\$((n + 1)); done
if [ -b /dev/vda ]; then
  dd if=/payload of=/dev/vda bs=1M seek=3 conv=fsync 2>/dev/null
  printf '$MARKER' | dd of=/dev/vda bs=1 seek=$MARKER_OFF conv=fsync 2>/dev/null
  sync
  blockdev --flushbufs /dev/vda
  echo 3 >/proc/sys/vm/drop_caches
  sum=\$(dd if=/dev/vda bs=1M skip=3 count=5 2>/dev/null | sha256sum)
  echo "RBDFS-VM size=\$(blockdev --getsize64 /dev/vda) sum=\${sum%% *}"
else
  echo "RBDFS-VM no /dev/vda"
fi
poweroff -f
EOF
chmod 755 "$R/init"
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) >"$TMP/initrd.gz"
echo "kernel $KVER, modules: ${MODS[*]}"

step "an image file, root's and mode 0600, on an allow_other,default_permissions mount"
M=$TMP/mnt
mount_rbdfs "$M" -o allow_other,default_permissions
IMG=$(uniq vm)
rbd create --size 64M --image-feature layering,exclusive-lock,object-map,fast-diff "$P/$IMG"
CLEANUP+=("rbd rm $P/$IMG >/dev/null 2>&1")
sleep 1.1
F=$M/$P/$IMG
chown 0:0 "$F"
chmod 600 "$F"
expect_eq "$(stat -c '%u:%g %a' "$F")" "0:0 600" "owner and mode before the domain starts"
setpriv --reuid="$QUID" --regid="$(id -g "$QUSER")" --clear-groups head -c1 "$F" >/dev/null 2>"$TMP/err" &&
  fail "$QUSER could read the 0600 root-owned image before libvirt's chown"
contains "Permission denied" <"$TMP/err" || fail "$QUSER reading the image: $(cat "$TMP/err")"
# libvirt remembers owners in trusted.libvirt.security.* where it can; rbdfs
# stores no trusted.* attributes and says so, and libvirt goes on without
expect_fail "Operation not supported" setfattr -n trusted.libvirt.security.dac -v +0:+0 "$F"
expect_fail "Operation not supported" getfattr -n trusted.libvirt.security.ref_dac "$F"

step "libvirtd and virtlogd, started here"
VIRSH=(virsh -q -c qemu:///system)
if "${VIRSH[@]}" version >/dev/null 2>&1; then
  echo "a libvirtd already answers on qemu:///system; using it"
else
  mkdir -p /run/libvirt
  if [ ! -S /run/libvirt/virtlogd-sock ] || ! pgrep -x virtlogd >/dev/null; then
    virtlogd >"$TMP/virtlogd.log" 2>&1 &
    VLPID=$!
    CLEANUP+=("kill $VLPID 2>/dev/null; wait $VLPID 2>/dev/null")
  fi
  libvirtd >"$TMP/libvirtd.log" 2>&1 &
  LVPID=$!
  CLEANUP+=("kill $LVPID 2>/dev/null; wait $LVPID 2>/dev/null")
  for _ in $(seq 300); do
    "${VIRSH[@]}" version >/dev/null 2>&1 && break
    kill -0 "$LVPID" 2>/dev/null || { cat "$TMP/libvirtd.log"; fail "libvirtd exited"; }
    sleep 0.1
  done
  "${VIRSH[@]}" version >/dev/null 2>&1 || { cat "$TMP/libvirtd.log"; fail "libvirtd does not answer"; }
fi

step "a TCG domain with the image as a virtio disk, cache=none"
DOM=$(uniq rbdfs-vm)
cat >"$TMP/dom.xml" <<EOF
<domain type='qemu'>
  <name>$DOM</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$TMP/vmlinuz</kernel>
    <initrd>$TMP/initrd.gz</initrd>
    <cmdline>console=ttyS0 panic=-1 loglevel=4</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='$F'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'>
      <source path='$TMP/console.log'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
"${VIRSH[@]}" define "$TMP/dom.xml" >/dev/null || fail "virsh define failed"
CLEANUP+=("${VIRSH[*]} undefine $DOM >/dev/null 2>&1")
CLEANUP+=("${VIRSH[*]} destroy $DOM >/dev/null 2>&1")
t0=$SECONDS
"${VIRSH[@]}" start "$DOM" >"$TMP/start.out" 2>&1 || { cat "$TMP/start.out"; fail "virsh start failed"; }
running_owner=$(stat -c '%u:%g' "$F")
running_meta=$(rbd image-meta list "$P/$IMG" 2>&1 || true)
# the qemu process: the qemu user's, with the image open O_DIRECT
qpid=$(cat "/run/libvirt/qemu/$DOM.pid" 2>/dev/null || true)
running_user=$(stat -c '%U' "/proc/$qpid" 2>/dev/null || true)
running_flags=
for fd in /proc/"$qpid"/fd/*; do
  [ "$(readlink "$fd" 2>/dev/null)" != "$F" ] || running_flags=$(awk '/^flags:/ { print $2 }' "/proc/$qpid/fdinfo/${fd##*/}")
done
state=
for _ in $(seq 1500); do
  state=$("${VIRSH[@]}" domstate "$DOM" 2>/dev/null || true)
  [ "$state" != "shut off" ] || break
  sleep 0.1
done
echo "guest ran $((SECONDS - t0)) s"
[ "$state" == "shut off" ] || { cat "$TMP/console.log"; fail "the domain is still '$state' after 150 s"; }
line=$(tr -d '\r' <"$TMP/console.log" | grep -a '^RBDFS-VM' || true)
[ -n "$line" ] || { cat "$TMP/console.log"; fail "the guest printed no RBDFS-VM line"; }
expect_eq "$line" "RBDFS-VM size=$((64 * MIB)) sum=$(sha256sum <"$TMP/payload" | cut -d' ' -f1)" \
  "the guest's read-back of its pattern"
pass "the guest wrote, read back and powered off"

step "libvirt chowned the file to $QUSER through rbdfs while the domain ran, and back after"
echo "while running: qemu pid $qpid as $running_user, image fd flags $running_flags, file $running_owner"
echo "$running_meta"
expect_eq "$running_user" "$QUSER" "user of the qemu process"
[ -n "$running_flags" ] || fail "the qemu process (pid '$qpid') did not have $F open"
[ $((8#$running_flags & 8#40000)) -ne 0 ] || fail "qemu opened the image without O_DIRECT (flags $running_flags)"
expect_eq "$running_owner" "$QUID:$QGID" "owner of the image file while the domain ran"
for kv in "rbdfs.uid $QUID" "rbdfs.gid $QGID"; do
  grep -Eq "^${kv% *} +${kv#* }\$" <<<"$running_meta" || fail "image-meta while the domain ran, no ${kv% *} ${kv#* }: $running_meta"
done
expect_eq "$(stat -c '%u:%g %a' "$F")" "0:0 600" "owner and mode after the domain stopped"
expect_eq "$(rbd image-meta get "$P/$IMG" rbdfs.uid):$(rbd image-meta get "$P/$IMG" rbdfs.gid)" "0:0" \
  "rbdfs.uid:rbdfs.gid after the domain stopped"

step "rbd export holds the guest's pattern and nothing else"
truncate -s 64M "$TMP/expected"
dd if="$TMP/payload" of="$TMP/expected" bs=1M seek=3 conv=notrunc status=none
printf '%s' "$MARKER" | dd of="$TMP/expected" bs=1 seek=$MARKER_OFF conv=notrunc status=none
rbd_export "$P/$IMG" "$TMP/export"
cmp "$TMP/export" "$TMP/expected" || fail "rbd export differs from the pattern the guest wrote"
pass "vm"
