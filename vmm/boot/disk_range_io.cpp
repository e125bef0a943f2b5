#include "vmm/boot/disk_range_io.hpp"

#include <sys/uio.h>

#include <cstring>
#include <new>
#include <span>

#include <ext2fs/ext2fs.h>

namespace berth::boot {

namespace {

// libext2fs hands the manager only a name; the range being opened rides along here
// for the duration of one ext2fs_open2 on this thread.
thread_local const DiskRange* range_being_opened = nullptr;

extern struct_io_manager disk_range_io_manager;  // below: it names these functions

DiskRange* range_of(io_channel channel) {
    return static_cast<DiskRange*>(channel->private_data);
}

errcode_t range_open(const char* name, int flags, io_channel* channel) {
    if (range_being_opened == nullptr || (flags & IO_FLAG_RW) != 0) {
        return EXT2_ET_UNIMPLEMENTED;
    }
    auto* opened = new (std::nothrow) struct_io_channel{};
    auto* range = new (std::nothrow) DiskRange(*range_being_opened);
    auto* copy = new (std::nothrow) char[std::strlen(name) + 1];
    if (opened == nullptr || range == nullptr || copy == nullptr) {
        delete opened;
        delete range;
        delete[] copy;
        return EXT2_ET_NO_MEMORY;
    }
    std::strcpy(copy, name);
    opened->magic = EXT2_ET_MAGIC_IO_CHANNEL;
    opened->manager = &disk_range_io_manager;
    opened->name = copy;
    opened->block_size = 1024;
    opened->refcount = 1;
    opened->private_data = range;
    *channel = opened;
    return 0;
}

errcode_t range_close(io_channel channel) {
    if (--channel->refcount > 0) {
        return 0;
    }
    delete range_of(channel);
    delete[] channel->name;
    delete channel;
    return 0;
}

errcode_t range_set_blksize(io_channel channel, int block_size) {
    if (block_size <= 0) {
        return EXT2_ET_INVALID_ARGUMENT;
    }
    channel->block_size = block_size;
    return 0;
}

errcode_t range_read_blk64(io_channel channel, unsigned long long block, int count, void* data) {
    const DiskRange& range = *range_of(channel);
    // A negative count is a byte count (libext2fs's convention).
    const std::uint64_t bytes =
        count < 0
            ? static_cast<std::uint64_t>(-static_cast<long long>(count))
            : static_cast<std::uint64_t>(count) * static_cast<std::uint64_t>(channel->block_size);
    const std::uint64_t block_size = static_cast<std::uint64_t>(channel->block_size);
    if (block > range.size / block_size || bytes > range.size - block * block_size) {
        std::memset(data, 0, bytes);
        return EXT2_ET_SHORT_READ;
    }
    const iovec to{data, bytes};
    if (!range.disk->read(std::span(&to, 1), range.offset + block * block_size)) {
        return EXT2_ET_SHORT_READ;
    }
    return 0;
}

errcode_t range_read_blk(io_channel channel, unsigned long block, int count, void* data) {
    return range_read_blk64(channel, block, count, data);
}

errcode_t range_write_blk64(io_channel, unsigned long long, int, const void*) {
    return EXT2_ET_RO_FILSYS;
}

errcode_t range_write_blk(io_channel, unsigned long, int, const void*) {
    return EXT2_ET_RO_FILSYS;
}

errcode_t range_flush(io_channel) {
    return 0;
}

struct_io_manager disk_range_io_manager = [] {
    struct_io_manager manager{};
    manager.magic = EXT2_ET_MAGIC_IO_MANAGER;
    manager.name = "berth disk range I/O manager";
    manager.open = range_open;
    manager.close = range_close;
    manager.set_blksize = range_set_blksize;
    manager.read_blk = range_read_blk;
    manager.write_blk = range_write_blk;
    manager.flush = range_flush;
    manager.read_blk64 = range_read_blk64;
    manager.write_blk64 = range_write_blk64;
    return manager;
}();

}  // namespace

long open_ext2fs_on(const DiskRange& range, const std::string& name, struct_ext2_filsys** fs) {
    range_being_opened = &range;
    const errcode_t error =
        ext2fs_open2(name.c_str(), nullptr, EXT2_FLAG_64BITS, 0, 0, &disk_range_io_manager, fs);
    range_being_opened = nullptr;
    return error;
}

}  // namespace berth::boot
