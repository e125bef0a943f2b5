#include "devices/block/raw_disk.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include <fmt/format.h>

#include "devices/block/iovec_range.hpp"
#include "devices/block/mapped_read.hpp"
#include "vmm/common/error.hpp"

namespace berth::devices::block {

namespace {
constexpr std::uint64_t sector_size = 512;
}

DiskImage DiskImage::open(const std::filesystem::path& path, Access access) {
    // The caller names the disk ("disk 0 (x.img)"); these messages say what is wrong
    // with the file.
    InputFile input = open_input_file(
        path,
        access == Access::read_only ? InputUse::attach_read_only : InputUse::attach_read_write,
        InputKinds::regular_file_or_block_device,
        {"give the path of a raw disk image",
         "make the file writable, or attach the disk read-only"});
    std::uint64_t size = input.size;
    if (input.block_device && ::ioctl(input.fd.get(), BLKGETSIZE64, &size) != 0) {
        throw_errno("cannot size the block device", errno);
    }
    if (size < sector_size) {
        throw bad_input(
            fmt::format("is {} bytes, less than one 512-byte sector; give a disk image "
                        "(make one with truncate -s 64M FILE)",
                        size));
    }
    return DiskImage{path, access, std::move(input.fd), size, std::move(input.claim)};
}

RawDisk::RawDisk(DiskImage image, ReadPath read_path) : image_(std::move(image)) {
    if (read_path == ReadPath::mapping_if_possible) {
        mapping_ = virtio::FileMapping::map_read_only(image_.fd.get(), image_.size);
    }
}

bool RawDisk::read(std::span<const iovec> to, std::uint64_t offset) {
    if (!mapping_) {
        return transfer_all(image_.fd.get(), {to.begin(), to.end()}, offset, Direction::read);
    }
    // false: the file is shorter than the disk now (truncated by someone else); preadv
    // would have met end of file there.
    return read_from_mapping(*mapping_, to, offset);
}

bool RawDisk::write(std::span<const iovec> from, std::uint64_t offset) {
    return transfer_all(image_.fd.get(), {from.begin(), from.end()}, offset, Direction::write);
}

bool RawDisk::flush() {
    if (image_.access == Access::read_only) {
        return true;  // nothing was ever written
    }
    return ::fdatasync(image_.fd.get()) == 0;
}

bool RawDisk::discard(std::uint64_t offset, std::uint64_t length) {
    // A hole reads back as zeros; a file system that cannot punch one simply keeps the
    // data, which discard allows.
    ::fallocate(image_.fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                static_cast<off_t>(offset), static_cast<off_t>(length));
    return true;
}

bool RawDisk::write_zeroes(std::uint64_t offset, std::uint64_t length) {
    const int fd = image_.fd.get();
    if (::fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(length)) == 0 ||
        ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(length)) == 0) {
        return true;
    }
    // No fallocate support: write the zeros.
    const std::vector<std::uint8_t> zeros(std::min<std::uint64_t>(length, 1 << 20), 0);
    for (std::uint64_t done = 0; done < length;) {
        const std::size_t count = std::min<std::uint64_t>(zeros.size(), length - done);
        if (!pwrite_all(fd, std::span(zeros).first(count), offset + done)) {
            return false;
        }
        done += count;
    }
    return true;
}

}  // namespace berth::devices::block
