#pragma once
// A read-only, shared mapping of a whole regular file (a disk image); unmapped when
// its owner goes away.
//
// Why virtio-blk reads through it instead of preadv: both copy out of the host's page
// cache, but preadv's copy is done by the host kernel with `rep movsb`, which the
// emulated L1 machine of tools/kvm-rig (QEMU TCG, where the KVM benches run) executes
// one byte at a time. Reading a 256 MiB cached file took 1.31 s with 1 MiB preads and
// 0.24 s as memcpy from a mapping (on real hardware 0.097 s against 0.061 s).
// MAP_SHARED makes the mapping show the page cache itself, so whatever berth writes
// with pwritev, or punches out with discard, reads back at once.
//
// Hazard: a page beyond the file's current end (another process truncated the image)
// raises SIGBUS when touched. Copy out of it only with copy_guarding_sigbus
// (sigbus_guard.hpp), which turns that into a failed request.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace berth::devices::virtio {

class FileMapping {
public:
    // Maps the first `size` bytes of the file open on `fd`. Nothing (the caller then
    // uses preadv) when `fd` is not a regular file (block devices keep preadv) or the
    // host refuses the mapping (a file system without mmap, no address space left).
    static std::optional<FileMapping> map_read_only(int fd, std::uint64_t size);

    ~FileMapping();
    FileMapping(FileMapping&& other) noexcept;
    FileMapping& operator=(FileMapping&& other) noexcept;
    FileMapping(const FileMapping&) = delete;
    FileMapping& operator=(const FileMapping&) = delete;

    std::span<const std::uint8_t> bytes() const { return {data_, size_}; }

private:
    FileMapping(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    void unmap();

    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace berth::devices::virtio
