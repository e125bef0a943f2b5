#pragma once
// The partition table of a disk, GPT or MBR, read through its backend (so a qcow2 disk's
// table is read through its clusters and backing chain, as the guest will see it).
//
// Why not libblkid or libfdisk: both probe a file descriptor, and a qcow2 disk is no
// byte range of a file; they would need the whole disk exposed as a block device (nbd,
// root) or copied. The two tables are small, fixed structures (UEFI 2.10 section 5,
// and the MBR's four 16-byte entries), so berth reads them itself, checking both GPT
// CRC32s (zlib's crc32 is the same polynomial) and every range against the disk.
//
// Sectors are 512 bytes, as virtio-blk presents the disk to the guest.

#include <cstdint>
#include <string>
#include <vector>

#include "devices/block/backend.hpp"

namespace berth::devices::block {

enum class PartitionScheme { none, mbr, gpt };

// What a partition's type says it holds, as far as finding a Linux root goes.
enum class PartitionRole {
    data,        // Linux file system, root, /boot, or a type berth does not know
    efi_system,  // a FAT file system for UEFI firmware
    bios_boot,   // GRUB's core image, no file system
    swap,
    extended,  // an MBR container of logical partitions
};

struct Partition {
    unsigned number = 0;       // as Linux names it: vda1; MBR logical partitions from 5
    std::uint64_t offset = 0;  // bytes from the start of the disk
    std::uint64_t size = 0;    // bytes
    std::string type;          // GPT: the type GUID, lower case; MBR: "0x83"
    std::string uuid;          // Linux's PARTUUID: the GPT unique GUID, or MBR "SIGNATURE-NN"
    std::string name;          // GPT partition name (ASCII; others as '?'); MBR: empty
    PartitionRole role = PartitionRole::data;
};

struct PartitionTable {
    PartitionScheme scheme = PartitionScheme::none;
    std::string disk_id;           // GPT disk GUID or MBR disk signature (8 hex digits)
    bool used_backup_gpt = false;  // the primary GPT header was damaged
    std::vector<Partition> partitions;
};

std::string_view scheme_name(PartitionScheme scheme);  // "GPT", "MBR", "none"

// The disk's table; scheme none when the first sector carries no MBR signature (or
// nothing that parses as an MBR: a file system on the whole disk). A table that is
// there but broken (both GPT headers bad, an entry beyond the disk, overlapping
// entries, an EBR chain that loops) is a bad-input Error naming the structure; the
// caller names the disk.
PartitionTable read_partition_table(BlockBackend& disk);

}  // namespace berth::devices::block
