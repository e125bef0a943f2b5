#pragma once
// Copies what one disk holds into another of the same size, whatever their formats
// (`berth image convert`): read through the source's backend (a qcow2 chain resolves
// as the guest would see it), written through the target's. Ranges that read back as
// zeros are not written, so the target stays sparse (raw) or unallocated (qcow2).

#include <cstdint>
#include <functional>

#include "devices/block/backend.hpp"

namespace berth::devices::block {

// Bytes per read: large enough that a 2 GiB image takes about 2,000 steps.
inline constexpr std::uint64_t disk_copy_chunk = 1 << 20;

// Copies from → to (to.size() must equal from.size()) and flushes `to`; `progress` hears
// the bytes done after each chunk. Throws Error naming the offset of a failed read or
// write.
void copy_disk(BlockBackend& from, BlockBackend& to,
               const std::function<void(std::uint64_t done)>& progress);

}  // namespace berth::devices::block
