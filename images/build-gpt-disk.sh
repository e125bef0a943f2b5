#!/usr/bin/env bash
# Turns the busybox disk (images/build-busybox-disk.sh: ext4 on the whole disk) into a
# partitioned qcow2 image as cloud images are laid out, for `berth vm run --image`
# tests: a GPT with an EFI system partition (1, empty) and the ext4 root (2), whose
# /boot/grub/grub.cfg names the kernel, the initrd and root=UUID=... (the file
# system's UUID, fixed here so tests can look for it). Converted with qemu-img.
# The grub entry adds berth_image_entry=gpt, and console= options berth must drop.
# /lib/modules/{cdrom,isofs}.ko (the kernel's iso9660 driver) let a test mount a cloud-init seed.
# No root needed (sfdisk and debugfs work on files).
#
# Usage: build-gpt-disk.sh BUSYBOX_DISK.img OUTPUT.qcow2
set -euo pipefail
in=${1:?usage: build-gpt-disk.sh BUSYBOX_DISK.img OUTPUT.qcow2}
out=${2:?usage: build-gpt-disk.sh BUSYBOX_DISK.img OUTPUT.qcow2}
uuid=5e3f1c2a-8b7d-4e6f-9a1b-2c3d4e5f6a7b
export PATH=$PATH:/usr/sbin:/sbin

fail() { echo "build-gpt-disk: $*" >&2; exit 2; }
for tool in sfdisk debugfs tune2fs e2fsck qemu-img; do
    command -v "$tool" >/dev/null ||
        fail "$tool is not installed; apt-get install fdisk e2fsprogs qemu-utils"
done
[[ -r $in ]] || fail "no busybox disk $in; build it with images/build-busybox-disk.sh"

work=$(mktemp -d "$out.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root.ext4
cp "$in" "$root"
kernel=$(debugfs -R "ls -p /boot" "$root" 2>/dev/null | awk -F/ '$6 ~ /^vmlinuz-/ { print $6 }' | head -n 1)
[[ -n $kernel ]] || fail "$in has no /boot/vmlinuz-*"
version=${kernel#vmlinuz-}
# tune2fs -U wants a freshly checked file system.
e2fsck -fy "$root" >/dev/null 2>&1 || true
tune2fs -U "$uuid" "$root" >/dev/null
cat >"$work/grub.cfg" <<CFG
# As update-grub writes it, cut down: berth reads the default entry.
set default="\${saved_entry}"
set default="0"
menuentry 'berth busybox on GPT' --class gnu-linux \$menuentry_id_option 'berth-gpt' {
	insmod part_gpt
	insmod ext2
	search --no-floppy --fs-uuid --set=root $uuid
	linux	/boot/vmlinuz-$version root=UUID=$uuid rw console=tty0 console=ttyS0,115200 berth_image_entry=gpt
	initrd	/boot/initrd.img-$version
}
menuentry 'not the default' {
	linux	/boot/vmlinuz-$version root=/dev/nothing berth_image_entry=wrong
	initrd	/boot/initrd.img-$version
}
CFG
debugfs -w -R "mkdir /boot/grub" "$root" >/dev/null 2>&1
debugfs -w -R "write $work/grub.cfg /boot/grub/grub.cfg" "$root" >/dev/null 2>&1
debugfs -R "cat /boot/grub/grub.cfg" "$root" 2>/dev/null | grep -q berth-gpt ||
    fail "could not write /boot/grub/grub.cfg into the root file system"
# iso9660 for the cloud-init seed test: the guest insmods /lib/modules/cdrom.ko and
# isofs.ko (isofs needs cdrom) to mount the cidata volume; berth's initramfs loads only
# the disk drivers. The busybox root has no /lib (busybox is static).
debugfs -w -R "mkdir /lib" "$root" >/dev/null 2>&1
debugfs -w -R "mkdir /lib/modules" "$root" >/dev/null 2>&1
for module in drivers/cdrom/cdrom fs/isofs/isofs; do
    name=$(basename "$module")
    file=$(ls "/lib/modules/$version/kernel/$module".ko* 2>/dev/null | head -n 1)
    [[ -n $file ]] || fail "no $name module for kernel $version"
    case $file in
        *.xz) xz -dc "$file" >"$work/$name.ko" ;;
        *.zst) zstd -qdc "$file" >"$work/$name.ko" ;;
        *) cp "$file" "$work/$name.ko" ;;
    esac
    debugfs -w -R "write $work/$name.ko /lib/modules/$name.ko" "$root" >/dev/null 2>&1
    debugfs -R "stat /lib/modules/$name.ko" "$root" 2>/dev/null | grep -q "Type: regular" ||
        fail "could not write /lib/modules/$name.ko into the root file system"
done

# 1 MiB in front (the GPT and alignment), the EFI partition, the root, 1 MiB behind
# (the backup GPT).
root_bytes=$(stat -c %s "$root")
disk=$work/disk.raw
truncate -s $(((1 + 2 + 1) * 1048576 + root_bytes)) "$disk"
sfdisk -q "$disk" <<TABLE
label: gpt
start=2048, size=4096, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=efi
start=6144, size=$((root_bytes / 512)), type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=root
TABLE
dd if="$root" of="$disk" bs=1M seek=3 conv=notrunc,sparse status=none
qemu-img convert -f raw -O qcow2 "$disk" "$out.tmp.$$"
mv "$out.tmp.$$" "$out"
echo "build-gpt-disk: wrote $out (GPT: 1 EFI, 2 ext4 root UUID=$uuid; kernel $version)"
