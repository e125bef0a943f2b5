#include "devices/block/partition_table.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <zlib.h>

#include "vmm/common/error.hpp"

namespace berth::devices::block {

namespace {

constexpr std::uint64_t sector = 512;
constexpr std::size_t mbr_entries_at = 446;
constexpr std::size_t mbr_signature_at = 440;
constexpr std::uint8_t mbr_protective_type = 0xee;
// More than the 128 entries every tool writes, far less than memory would bound.
constexpr std::uint32_t max_gpt_entries = 4096;
constexpr unsigned max_logical_partitions = 256;

constexpr std::string_view gpt_signature = "EFI PART";
constexpr std::string_view efi_system_guid = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
constexpr std::string_view bios_boot_guid = "21686148-6449-6e6f-744e-656564454649";
constexpr std::string_view linux_swap_guid = "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f";

void check_no_overlap(const PartitionTable& table);

std::vector<std::uint8_t> read_bytes(BlockBackend& disk, std::uint64_t offset, std::uint64_t length,
                                     std::string_view what) {
    if (offset > disk.size() || length > disk.size() - offset) {
        throw bad_input(
            fmt::format("{} lies beyond the end of the {}-byte disk; the partition "
                        "table is damaged or the image was truncated",
                        what, disk.size()));
    }
    std::vector<std::uint8_t> bytes(length);
    const iovec to{bytes.data(), bytes.size()};
    if (!disk.read(std::span(&to, 1), offset)) {
        throw bad_input(
            fmt::format("cannot read {} (bytes {}-{}); check the image with "
                        "`qemu-img check`",
                        what, offset, offset + length - 1));
    }
    return bytes;
}

std::uint32_t le32(const std::uint8_t* p) {
    std::uint32_t value = 0;
    for (int i = 3; i >= 0; --i) {
        value = value << 8 | p[i];
    }
    return value;
}

std::uint64_t le64(const std::uint8_t* p) {
    return static_cast<std::uint64_t>(le32(p + 4)) << 32 | le32(p);
}

// A GUID as written on disk: the first three fields little-endian, the rest as bytes.
std::string guid_text(const std::uint8_t* p) {
    return fmt::format("{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                       le32(p), p[4] | p[5] << 8, p[6] | p[7] << 8, p[8], p[9], p[10], p[11], p[12],
                       p[13], p[14], p[15]);
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
    return std::all_of(p, p + n, [](std::uint8_t b) { return b == 0; });
}

std::uint32_t crc32_of(const std::uint8_t* p, std::size_t n) {
    return static_cast<std::uint32_t>(::crc32(::crc32(0L, Z_NULL, 0), p, static_cast<uInt>(n)));
}

// The UTF-16LE name, ASCII kept, everything else '?'.
std::string gpt_name(const std::uint8_t* p) {
    std::string name;
    for (std::size_t i = 0; i + 1 < 72; i += 2) {
        const unsigned unit = p[i] | p[i + 1] << 8;
        if (unit == 0) {
            break;
        }
        name += unit >= 0x20 && unit < 0x7f ? static_cast<char>(unit) : '?';
    }
    return name;
}

PartitionRole gpt_role(std::string_view type) {
    if (type == efi_system_guid) {
        return PartitionRole::efi_system;
    }
    if (type == bios_boot_guid) {
        return PartitionRole::bios_boot;
    }
    if (type == linux_swap_guid) {
        return PartitionRole::swap;
    }
    return PartitionRole::data;
}

bool is_extended(std::uint8_t type) {
    return type == 0x05 || type == 0x0f || type == 0x85;
}

PartitionRole mbr_role(std::uint8_t type) {
    if (type == 0xef) {
        return PartitionRole::efi_system;
    }
    if (type == 0x82) {
        return PartitionRole::swap;
    }
    return is_extended(type) ? PartitionRole::extended : PartitionRole::data;
}

// A GPT read from one header (primary at LBA 1 or backup at the last LBA): the table, or
// why this header cannot be used.
struct GptAttempt {
    std::optional<PartitionTable> table;
    std::string problem;
};

GptAttempt read_gpt_at(BlockBackend& disk, std::uint64_t header_lba, std::string_view which) {
    const std::uint64_t sectors = disk.size() / sector;
    const auto fail = [&](std::string problem) {
        return GptAttempt{std::nullopt,
                          fmt::format("the {} GPT header (LBA {}) {}", which, header_lba, problem)};
    };
    std::vector<std::uint8_t> header =
        read_bytes(disk, header_lba * sector, sector, fmt::format("the {} GPT header", which));
    if (std::memcmp(header.data(), gpt_signature.data(), gpt_signature.size()) != 0) {
        return fail("has no \"EFI PART\" signature");
    }
    const std::uint32_t header_size = le32(&header[12]);
    if (header_size < 92 || header_size > sector) {
        return fail(fmt::format("claims a size of {} bytes (92 to 512 are valid)", header_size));
    }
    const std::uint32_t stored_crc = le32(&header[16]);
    std::memset(&header[16], 0, 4);
    if (crc32_of(header.data(), header_size) != stored_crc) {
        return fail("fails its CRC32 check");
    }
    if (le64(&header[24]) != header_lba) {
        return fail(fmt::format("says it is at LBA {}", le64(&header[24])));
    }
    const std::uint64_t first_usable = le64(&header[40]);
    const std::uint64_t last_usable = le64(&header[48]);
    if (first_usable > last_usable || last_usable >= sectors) {
        return fail(fmt::format("gives usable sectors {}-{} on a disk of {} sectors", first_usable,
                                last_usable, sectors));
    }
    const std::uint64_t entries_lba = le64(&header[72]);
    const std::uint32_t entry_count = le32(&header[80]);
    const std::uint32_t entry_size = le32(&header[84]);
    if (entry_size < 128 || entry_size > 4096 || (entry_size & (entry_size - 1)) != 0) {
        return fail(fmt::format("gives entries of {} bytes (128 times a power of two is valid)",
                                entry_size));
    }
    if (entry_count > max_gpt_entries) {
        return fail(fmt::format("claims {} entries, more than berth reads ({})", entry_count,
                                max_gpt_entries));
    }
    const std::uint64_t entries_bytes = std::uint64_t{entry_count} * entry_size;
    if (entries_lba >= sectors || entries_bytes > (sectors - entries_lba) * sector) {
        return fail(fmt::format("puts its entry array at LBA {}, beyond the disk", entries_lba));
    }
    const std::vector<std::uint8_t> entries = read_bytes(
        disk, entries_lba * sector, entries_bytes, fmt::format("the {} GPT entry array", which));
    if (crc32_of(entries.data(), entries.size()) != le32(&header[88])) {
        return fail("has an entry array that fails its CRC32 check");
    }

    PartitionTable table;
    table.scheme = PartitionScheme::gpt;
    table.disk_id = guid_text(&header[56]);
    for (std::uint32_t i = 0; i < entry_count; ++i) {
        const std::uint8_t* entry = &entries[std::size_t{i} * entry_size];
        if (all_zero(entry, 16)) {
            continue;  // an unused entry
        }
        const std::uint64_t first = le64(entry + 32);
        const std::uint64_t last = le64(entry + 40);
        if (first > last || first < first_usable || last > last_usable) {
            return fail(
                fmt::format("has partition {} at sectors {}-{}, outside the usable "
                            "sectors {}-{}",
                            i + 1, first, last, first_usable, last_usable));
        }
        Partition partition;
        partition.number = i + 1;
        partition.offset = first * sector;
        partition.size = (last - first + 1) * sector;
        partition.type = guid_text(entry);
        partition.uuid = guid_text(entry + 16);
        partition.name = gpt_name(entry + 56);
        partition.role = gpt_role(partition.type);
        table.partitions.push_back(std::move(partition));
    }
    return GptAttempt{std::move(table), {}};
}

PartitionTable read_gpt(BlockBackend& disk) {
    GptAttempt primary = read_gpt_at(disk, 1, "primary");
    if (primary.table) {
        check_no_overlap(*primary.table);
        return std::move(*primary.table);
    }
    // Tools write a backup header in the last sector for exactly this case.
    GptAttempt backup = read_gpt_at(disk, disk.size() / sector - 1, "backup");
    if (backup.table) {
        backup.table->used_backup_gpt = true;
        check_no_overlap(*backup.table);
        return std::move(*backup.table);
    }
    throw bad_input(
        fmt::format("has a protective MBR but no usable GPT: {}, and {}; repair "
                    "it with `sgdisk --verify` or `gdisk`",
                    primary.problem, backup.problem));
}

Partition mbr_partition(const std::uint8_t* entry, unsigned number, std::uint64_t base,
                        std::uint32_t signature) {
    Partition partition;
    partition.number = number;
    partition.offset = (base + le32(entry + 8)) * sector;
    partition.size = std::uint64_t{le32(entry + 12)} * sector;
    partition.type = fmt::format("{:#04x}", entry[4]);
    partition.uuid = fmt::format("{:08x}-{:02x}", signature, number);
    partition.role = mbr_role(entry[4]);
    return partition;
}

void check_inside(const Partition& partition, std::uint64_t begin, std::uint64_t end,
                  std::string_view container) {
    if (partition.size == 0 || partition.offset < begin || partition.offset > end ||
        partition.size > end - partition.offset) {
        throw bad_input(
            fmt::format("has MBR partition {} at bytes {}-{}, outside {} (bytes "
                        "{}-{}); fix the partition table (sfdisk, fdisk)",
                        partition.number, partition.offset, partition.offset + partition.size,
                        container, begin, end));
    }
}

// The logical partitions in extended partition `extended`: a chain of EBRs, each
// holding one partition (relative to itself) and a link to the next (relative to the
// extended partition's start).
void read_logical_partitions(BlockBackend& disk, const Partition& extended, std::uint32_t signature,
                             PartitionTable& table) {
    const std::uint64_t base = extended.offset / sector;
    std::set<std::uint64_t> visited;
    std::uint64_t ebr = base;
    for (unsigned number = 5;; ++number) {
        if (number - 5 >= max_logical_partitions || !visited.insert(ebr).second) {
            throw bad_input(
                fmt::format("has an extended partition whose chain of EBRs loops "
                            "(at sector {}); fix the partition table (fdisk)",
                            ebr));
        }
        if (ebr * sector < extended.offset || ebr * sector >= extended.offset + extended.size) {
            throw bad_input(
                fmt::format("has an EBR at sector {}, outside its extended "
                            "partition; fix the partition table (fdisk)",
                            ebr));
        }
        const auto bytes = read_bytes(disk, ebr * sector, sector, "an EBR");
        if (bytes[510] != 0x55 || bytes[511] != 0xaa) {
            throw bad_input(
                fmt::format("has an EBR at sector {} without the 55 AA signature; "
                            "fix the partition table (fdisk)",
                            ebr));
        }
        const std::uint8_t* logical = &bytes[mbr_entries_at];
        const std::uint8_t* link = logical + 16;
        if (logical[4] != 0) {
            Partition partition = mbr_partition(logical, number, ebr, signature);
            check_inside(partition, extended.offset, extended.offset + extended.size,
                         "its extended partition");
            table.partitions.push_back(std::move(partition));
        }
        if (link[4] == 0 || le32(link + 8) == 0) {
            return;
        }
        ebr = base + le32(link + 8);
    }
}

// Partitions that overlap would let a write to one corrupt another.
void check_no_overlap(const PartitionTable& table) {
    std::vector<const Partition*> placed;
    for (const auto& partition : table.partitions) {
        if (partition.role != PartitionRole::extended) {
            placed.push_back(&partition);
        }
    }
    std::sort(placed.begin(), placed.end(),
              [](const Partition* a, const Partition* b) { return a->offset < b->offset; });
    for (std::size_t i = 1; i < placed.size(); ++i) {
        if (placed[i - 1]->offset + placed[i - 1]->size > placed[i]->offset) {
            throw bad_input(
                fmt::format("has {} partitions {} and {} overlapping; fix the "
                            "partition table (sfdisk, fdisk)",
                            scheme_name(table.scheme), placed[i - 1]->number, placed[i]->number));
        }
    }
}

}  // namespace

std::string_view scheme_name(PartitionScheme scheme) {
    switch (scheme) {
        case PartitionScheme::gpt:
            return "GPT";
        case PartitionScheme::mbr:
            return "MBR";
        case PartitionScheme::none:
            break;
    }
    return "none";
}

PartitionTable read_partition_table(BlockBackend& disk) {
    if (disk.size() < 2 * sector) {
        return {};
    }
    const auto mbr = read_bytes(disk, 0, sector, "the MBR");
    if (mbr[510] != 0x55 || mbr[511] != 0xaa) {
        return {};
    }
    // A boot sector of a file system (FAT) also ends in 55 AA; an MBR's entries start
    // with a status byte of 0x00 or 0x80.
    bool protective = false;
    for (int i = 0; i < 4; ++i) {
        const std::uint8_t* entry = &mbr[mbr_entries_at + 16 * i];
        if (entry[0] != 0x00 && entry[0] != 0x80) {
            return {};
        }
        protective = protective || entry[4] == mbr_protective_type;
    }
    if (protective) {
        return read_gpt(disk);
    }
    PartitionTable table;
    table.scheme = PartitionScheme::mbr;
    const std::uint32_t signature = le32(&mbr[mbr_signature_at]);
    table.disk_id = fmt::format("{:08x}", signature);
    std::vector<Partition> extended;
    for (unsigned i = 0; i < 4; ++i) {
        const std::uint8_t* entry = &mbr[mbr_entries_at + 16 * i];
        if (entry[4] == 0) {
            continue;
        }
        Partition partition = mbr_partition(entry, i + 1, 0, signature);
        check_inside(partition, sector, disk.size(), "the disk");
        if (partition.role == PartitionRole::extended) {
            extended.push_back(partition);
        }
        table.partitions.push_back(std::move(partition));
    }
    for (const auto& container : extended) {
        read_logical_partitions(disk, container, signature, table);
    }
    check_no_overlap(table);
    return table;
}

}  // namespace berth::devices::block
