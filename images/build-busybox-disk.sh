#!/usr/bin/env bash
# Builds a small bootable disk for `berth vm run --image`: a raw ext4 image (label
# berth-root, no partition table) whose root file system is Debian's static busybox
# (images/busybox-rootfs.sh), with the host's Debian kernel in /boot and, as its
# initrd, berth's initramfs (images/build-initramfs.sh) built from that kernel's
# modules. The initramfs loads virtio_pci, virtio_blk and ext4, mounts root= and
# switch_roots to the disk's /sbin/init, which
#   - prints "berth-guest: disk root ready: DEVICE TYPE OPTIONS" (from /proc/mounts);
#   - with berth_run="COMMAND" on the kernel command line, runs it, syncs, prints
#     "berth-guest: exit STATUS", hands STATUS to berth through port 0x501 and powers
#     off;
#   - otherwise starts busybox init: a root shell on the console, `poweroff` ends
#     the VM with status 0.
# The CI's disk-boot test uses it: far smaller and faster than the Debian image.
# No root needed (mke2fs -d; files keep the builder's owner).
#
# Usage: build-busybox-disk.sh OUTPUT SIZE_BYTES [KERNEL]
#   KERNEL: a /boot/vmlinuz-VERSION whose modules are in /lib/modules/VERSION
#   (default: the newest /boot/vmlinuz-*). BUSYBOX picks the busybox binary.
set -euo pipefail
out=${1:?usage: build-busybox-disk.sh OUTPUT SIZE_BYTES [KERNEL]}
size=${2:?usage: build-busybox-disk.sh OUTPUT SIZE_BYTES [KERNEL]}
kernel=${3:-$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)}
here=$(cd "$(dirname "$0")" && pwd)
busybox=${BUSYBOX:-/bin/busybox}
label=berth-root

fail() { echo "build-busybox-disk: $*" >&2; exit 2; }
mke2fs=$(PATH=$PATH:/usr/sbin:/sbin command -v mke2fs) ||
    fail "mke2fs is not installed; apt-get install e2fsprogs"
[[ $size =~ ^[0-9]+$ ]] || fail "size '$size' must be a number of bytes"
[[ -n $kernel && -r $kernel ]] ||
    fail "no readable kernel ${kernel:-in /boot}; install linux-image-amd64 or name one (/boot/vmlinuz-VERSION)"
name=$(basename "$kernel")
version=${name#vmlinuz-}
[[ $name == vmlinuz-* && -n $version ]] ||
    fail "kernel $kernel is not named vmlinuz-VERSION, so its modules cannot be found"
[[ -f /lib/modules/$version/modules.dep ]] ||
    fail "no modules for kernel $version in /lib/modules/$version; install its linux-image package"

work=$(mktemp -d "$out.work.XXXXXX")
trap 'rm -rf "$work" "$out.tmp.$$"' EXIT
tree=$work/root
BUSYBOX=$busybox "$here/busybox-rootfs.sh" "$tree"
rm -f "$tree/.berth-rootfs"

mkdir -p "$tree/boot"
cp "$kernel" "$tree/boot/vmlinuz-$version"
BERTH_MODULES_DIR=/lib/modules/$version "$here/build-initramfs.sh" \
    "$tree/boot/initrd.img-$version" "$busybox"
# As Debian does: the default kernel and initrd are links at the root.
ln -s "boot/vmlinuz-$version" "$tree/vmlinuz"
ln -s "boot/initrd.img-$version" "$tree/initrd.img"

echo berth-disk >"$tree/etc/hostname"
echo "berth busybox disk" >"$tree/etc/berth-release"
cat >"$tree/etc/fstab" <<FSTAB
LABEL=$label / ext4 defaults 0 1
FSTAB
cat >"$tree/etc/inittab" <<'TAB'
::sysinit:/bin/hostname -F /etc/hostname
::respawn:/bin/cttyhack /bin/sh -l
::shutdown:/bin/sync
::shutdown:/bin/umount -a -r
TAB
cat >"$tree/etc/profile" <<'PROFILE'
export PS1='berth-disk# '
PROFILE
rm -f "$tree/sbin/init"
cat >"$tree/sbin/init" <<'INIT'
#!/bin/sh
# PID 1 on berth's busybox disk, after the initramfs's switch_root.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
# The initramfs moved its /proc, /sys and /dev here (Debian's busybox has no
# mountpoint applet: ask /proc/mounts, which is missing when /proc is).
mounted() { grep -q " $1 " /proc/mounts 2>/dev/null; }
mounted /proc || mount -t proc proc /proc
mounted /sys || mount -t sysfs sysfs /sys
mounted /dev || mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
echo "berth-guest: disk root ready: $(awk '$2 == "/" { r = $1 " " $3 " " $4 } END { print r }' /proc/mounts)"
if [ -n "${berth_run:-}" ]; then
    sh -c "$berth_run"
    status=$?
    # What the command wrote must be on the disk before the power goes.
    sync
    echo "berth-guest: exit $status"
    # An out to port 0x501 (1281): berth exits with this byte as its status.
    printf "\\$(printf %o "$status")" | dd of=/dev/port bs=1 seek=1281 count=1 2>/dev/null
    poweroff -f
fi
exec /bin/busybox init
INIT
chmod 755 "$tree/sbin/init"

used=$(du -sb "$tree" | cut -f1)
need=$((used + used / 4 + (8 << 20)))
if ((size < need)); then
    fail "size $size bytes is too small: the files take $((used >> 20)) MiB; use at least $(((need >> 20) + 1))M"
fi
tmp=$out.tmp.$$
rm -f "$tmp"
truncate -s "$size" "$tmp"
"$mke2fs" -q -t ext4 -L "$label" -d "$tree" -F "$tmp"
mv "$tmp" "$out"
echo "build-busybox-disk: wrote $out ($((size >> 20)) MiB, kernel $version, ext4 label $label)"
