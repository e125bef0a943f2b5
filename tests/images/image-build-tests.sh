#!/usr/bin/env bash
# berth image build end to end, without KVM: builds the initramfs and the busybox disk
# with berth, inspects them (cpio listing, debugfs), and has `berth vm run --image`
# find and parse the kernel inside the disk (a too-small --memory stops it, with a
# message naming that kernel, before KVM is opened). A Debian image made by
# `berth image build debian` (root, network, minutes) is inspected when
# BERTH_DEBIAN_IMAGE names one; otherwise those checks are skipped. TAP output.
set -u
# shellcheck source=../lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"
BERTH=${BERTH:?set BERTH to the berth binary}
export PATH=$PATH:/usr/sbin:/sbin
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

check() {  # check NAME COMMAND...: ok when COMMAND succeeds; else the tail of its output
    local name=$1
    shift
    if "$@" >"$scratch/log" 2>&1; then
        tap_ok "$name"
    else
        tap_not_ok "$name"
        tail -n 20 "$scratch/log" | tap_diag
    fi
}
# in_image IMAGE DEBUGFS_REQUEST: what debugfs prints for it
in_image() { debugfs -R "$2" "$1" 2>/dev/null; }

# --- the initramfs
check "image build initramfs" "$BERTH" image build initramfs -o "$scratch/initramfs.cpio.gz"
zcat "$scratch/initramfs.cpio.gz" 2>/dev/null | cpio -t --quiet 2>/dev/null >"$scratch/initramfs.list"
modules_ok=yes
for module in virtio_pci virtio_blk virtio-rng virtio_console virtio_ring ext4 jbd2 mbcache crc16 crc32c_generic; do
    grep -qx "lib/modules/berth/$module.ko" "$scratch/initramfs.list" || { modules_ok=no; echo "# missing $module.ko"; }
done
check "initramfs holds the virtio, ext4 and crc32c modules" test "$modules_ok" = yes
mkdir "$scratch/unpacked"
(cd "$scratch/unpacked" && zcat "$scratch/initramfs.cpio.gz" | cpio -id --quiet 2>/dev/null)
order=$(tr '\n' ' ' <"$scratch/unpacked/lib/modules/berth/load-order")
check "initramfs loads ext4's dependencies before ext4 ($order)" \
    bash -c '[[ $1 == *"jbd2.ko "*"ext4.ko"* && $1 == *"virtio.ko "*"virtio_blk.ko"* ]]' _ "$order"
check "initramfs /init mounts root= and switch_roots" grep -q 'exec switch_root /newroot /sbin/init' "$scratch/unpacked/init"

# --- the busybox disk
check "image build busybox-disk" "$BERTH" image build busybox-disk -o "$scratch/disk.img"
disk=$scratch/disk.img
check "busybox disk is ext4 labelled berth-root" \
    bash -c 'dumpe2fs -h "$1" 2>/dev/null | grep -q "^Filesystem volume name: *berth-root$"' _ "$disk"
kernel_link=$(in_image "$disk" "stat /vmlinuz" | sed -n 's/^Fast link dest: "\(.*\)"$/\1/p')
version=${kernel_link#boot/vmlinuz-}
check "busybox disk: /vmlinuz -> $kernel_link" test -n "$version" -a "$kernel_link" != "$version"
in_image "$disk" "dump /boot/vmlinuz-$version $scratch/vmlinuz" >/dev/null
check "busybox disk: its kernel is the host's /boot/vmlinuz-$version" cmp "$scratch/vmlinuz" "/boot/vmlinuz-$version"
in_image "$disk" "dump /boot/initrd.img-$version $scratch/initrd" >/dev/null
check "busybox disk: its initrd is berth's initramfs with ext4" \
    bash -c 'zcat "$1" | cpio -t --quiet 2>/dev/null | grep -qx lib/modules/berth/ext4.ko' _ "$scratch/initrd"
in_image "$disk" "dump /sbin/init $scratch/disk-init" >/dev/null
check "busybox disk: /sbin/init reports the disk root and runs berth_run" \
    bash -c 'grep -q "berth-guest: disk root ready" "$1" && grep -q berth_run "$1" && busybox sh -n "$1"' _ "$scratch/disk-init"
check "busybox disk: /bin/sh is there" bash -c 'debugfs -R "stat /bin/sh" "$1" 2>/dev/null | grep -q "Type: symlink"' _ "$disk"
# berth reads the kernel out of the image and parses it; 8 MiB of RAM is too small
# for Debian's kernel, which stops berth before it opens /dev/kvm.
"$BERTH" vm run --image "$disk" --memory 8M >"$scratch/out" 2>"$scratch/vm-err"
status=$?
check "vm run --image finds /boot/vmlinuz-$version in the disk (status $status)" \
    bash -c '[[ $1 -eq 2 ]] && grep -q "too small for kernel '\''/boot/vmlinuz-$2'\'' in disk image" "$3"' _ "$status" "$version" "$scratch/vm-err"

# --- a Debian image, when one was built
debian=${BERTH_DEBIAN_IMAGE:-}
if [[ -n $debian && -f $debian ]]; then
    "$BERTH" vm run --image "$debian" --memory 8M >"$scratch/out" 2>"$scratch/vm-err"
    status=$?
    check "Debian image: berth finds its kernel (status $status)" \
        bash -c '[[ $1 -eq 2 ]] && grep -q "too small for kernel '\''/boot/vmlinuz-.*'\'' in disk image" "$2"' _ "$status" "$scratch/vm-err"
    initrd_link=$(in_image "$debian" "stat /initrd.img" | sed -n 's/^Fast link dest: "\(.*\)"$/\1/p')
    in_image "$debian" "dump /$initrd_link $scratch/debian-initrd" >/dev/null
    if command -v lsinitramfs >/dev/null; then
        check "Debian image: its initrd has virtio_pci, virtio_blk and ext4" bash -c '
            list=$(lsinitramfs "$1")
            for m in virtio_pci virtio_blk ext4; do grep -q "/$m.ko" <<<"$list" || exit 1; done' _ "$scratch/debian-initrd"
    else
        tap_skip "Debian image: its initrd has the virtio modules" "lsinitramfs (initramfs-tools-core) is not installed"
    fi
    check "Debian image: fstab mounts / by LABEL=berth-root" \
        bash -c 'debugfs -R "cat /etc/fstab" "$1" 2>/dev/null | grep -q "^LABEL=berth-root / ext4"' _ "$debian"
    check "Debian image: a getty on ttyS0" \
        bash -c 'debugfs -R "ls /etc/systemd/system/getty.target.wants" "$1" 2>/dev/null | grep -q "serial-getty@ttyS0.service"' _ "$debian"
    check "Debian image: systemd is init" \
        bash -c 'debugfs -R "stat /sbin/init" "$1" 2>/dev/null | grep -q "systemd"' _ "$debian"
    check "Debian image: root has a password" \
        bash -c 'debugfs -R "cat /etc/shadow" "$1" 2>/dev/null | grep -q "^root:\$y\\$"' _ "$debian"
    check "Debian image: hostname berth-debian" \
        bash -c 'debugfs -R "cat /etc/hostname" "$1" 2>/dev/null | grep -qx berth-debian' _ "$debian"
    check "Debian image: systemd-networkd (enabled) asks DHCP on every Ethernet NIC" \
        bash -c 'debugfs -R "cat /etc/systemd/network/80-berth-dhcp.network" "$1" 2>/dev/null | tr "\n" " " | grep -q "Type=ether .*DHCP=yes" &&
                 debugfs -R "ls /etc/systemd/system/multi-user.target.wants" "$1" 2>/dev/null | grep -q systemd-networkd.service' _ "$debian"
    check "Debian image: cloud-init reads the NoCloud seed and leaves the network alone" \
        bash -c 'debugfs -R "stat /usr/bin/cloud-init" "$1" 2>/dev/null | grep -q "Type: regular" &&
                 debugfs -R "cat /etc/cloud/cloud.cfg.d/90-berth.cfg" "$1" 2>/dev/null | grep -q "datasource_list: \[ NoCloud, None \]"' _ "$debian"
    check "Debian image: openssh-server, with no host keys baked in" \
        bash -c 'debugfs -R "stat /usr/sbin/sshd" "$1" 2>/dev/null | grep -q "Type: regular" &&
                 ! debugfs -R "ls /etc/ssh" "$1" 2>/dev/null | grep -q ssh_host_' _ "$debian"
else
    tap_skip "Debian image checks" "no BERTH_DEBIAN_IMAGE (sudo berth image build debian -o build/images/debian.img)"
fi

tap_done
