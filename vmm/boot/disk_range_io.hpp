#pragma once
// A libext2fs I/O manager over a byte range of a disk backend: how berth reads a file
// system inside a partition, and inside a qcow2 image, with libext2fs (whose own
// unix_io_manager reads a file descriptor, at most at an offset: no qcow2 clusters).
// Read-only: a write is refused.

#include <cstdint>
#include <string>

#include "devices/block/backend.hpp"

struct struct_ext2_filsys;

namespace berth::boot {

struct DiskRange {
    devices::block::BlockBackend* disk = nullptr;
    std::uint64_t offset = 0;  // bytes from the start of the disk
    std::uint64_t size = 0;    // bytes
};

// ext2fs_open2 over `range`, read-only; `name` is what libext2fs records as the device
// name. Returns libext2fs's error code (0: *fs is open; close it with ext2fs_close_free).
// Reads past the range's end fail with EXT2_ET_SHORT_READ, as a short file would.
long open_ext2fs_on(const DiskRange& range, const std::string& name, struct_ext2_filsys** fs);

}  // namespace berth::boot
