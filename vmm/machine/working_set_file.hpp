#pragma once
// A snapshot's working set (docs/snapshots.md): the pages of guest RAM a restore of it
// had in memory a while after it resumed, which later restores map into KVM before the
// guest runs (vmm/machine/working_set.hpp). The file DIR/working-set:
//   "BERTHWKS" (8 bytes), format version (u32), CRC-32 of the body (u32, zlib's),
//   run count (u64), then the body: per run of consecutive pages, its guest-physical
//   address (u64, page aligned), its page count (u32) and its use (u32: 0 read,
//   1 written). Integers little endian; runs in address order, none overlapping.
// It is an optimisation only: it never changes what the guest sees.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <vector>

#include "vmm/memory/resident_pages.hpp"

namespace berth::machine {

inline constexpr const char* snapshot_working_set_file = "working-set";

struct WorkingSetRun {
    std::uint64_t guest_address;
    std::uint64_t pages;
    memory::PageUse use;

    bool operator==(const WorkingSetRun&) const = default;
};

// A piece of guest RAM, as the snapshot's state lists it.
struct RamSpan {
    std::uint64_t guest_address;
    std::uint64_t size;
};

std::vector<std::uint8_t> encode_working_set(std::span<const WorkingSetRun> runs);
// Checks magic, version, length, checksum and that every run lies inside one of `ram`,
// in order; throws a bad-input Error saying what is wrong and the fix (without naming
// the file: the caller does).
std::vector<WorkingSetRun> decode_working_set(std::span<const std::uint8_t> bytes,
                                              std::span<const RamSpan> ram);
// dir/working-set, checked; nothing when there is none. Errors name the file.
std::optional<std::vector<WorkingSetRun>> read_working_set(const std::filesystem::path& dir,
                                                           std::span<const RamSpan> ram);

}  // namespace berth::machine
