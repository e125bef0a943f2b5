#pragma once
// What `berth vm run --image` boots: the kernel, initrd and command line of the Linux
// system on a disk image, found without firmware or boot loader.
//
// A disk without a partition table is one ext2/3/4 file system (`berth image build
// debian`): its default kernel (/vmlinuz or the newest /boot/vmlinuz-*), root=/dev/vda.
// A partitioned disk (GPT or MBR; devices/block/partition_table.hpp) is searched in
// partition order for the boot loader's configuration on an ext2/3/4 partition (Boot
// Loader Specification entries in /loader/entries or /boot/loader/entries, else GRUB's
// /boot/grub/grub.cfg, /boot/grub2/grub.cfg, or /grub/grub.cfg on a separate /boot);
// its default entry's kernel and initrds are read from that partition and its options
// are the command line, console= dropped, so the image's own root= (UUID=, PARTUUID=,
// LABEL=) is resolved by the guest as usual. Without any configuration, the first
// partition with a default kernel boots with root=/dev/vdaN rw.

#include "devices/block/disk_spec.hpp"
#include "vmm/boot/ext4_image.hpp"

namespace berth::boot {

// The command line a whole-disk file system boots with: it is the first disk.
inline constexpr const char* whole_disk_root_options = "root=/dev/vda rw";

// Reads the boot files of the image `spec` names (opened read-only; raw or qcow2 as
// spec.format says). Every problem with the image is a bad-input Error naming it.
ImageBootFiles read_image_boot_files(const devices::block::DiskSpec& spec);

}  // namespace berth::boot
