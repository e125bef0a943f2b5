#pragma once
// What virtio-blk reads and writes: a disk of `size()` bytes, whatever file format holds
// it. The device checks every request against size() and read_only() first; a backend
// sees only ranges inside the disk. A false return fails the guest's request (IOERR);
// it never throws, since a broken request must not end the VM.
//
// One backend serves one device's worker thread, so implementations take no locks.

#include <sys/uio.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace berth::devices::block {

enum class Access { read_write, read_only };

class BlockBackend {
public:
    virtual ~BlockBackend() = default;

    virtual std::uint64_t size() const = 0;  // bytes the guest sees
    virtual Access access() const = 0;
    // "raw" or "qcow2", for messages and `image info`.
    virtual std::string_view format() const = 0;
    virtual const std::filesystem::path& path() const = 0;  // the file the user named

    // Fill `to` (guest buffers, `length` bytes in all) with the disk at `offset`.
    virtual bool read(std::span<const iovec> to, std::uint64_t offset) = 0;
    virtual bool write(std::span<const iovec> from, std::uint64_t offset) = 0;
    // Everything written so far is on the host's disk when this returns true.
    virtual bool flush() = 0;
    // The range reads back as zeros afterwards.
    virtual bool write_zeroes(std::uint64_t offset, std::uint64_t length) = 0;
    // The guest no longer needs the range; what it reads back is unspecified.
    virtual bool discard(std::uint64_t offset, std::uint64_t length) = 0;

    // Whether reads copy out of a mapping of the file (the raw fast path; tests ask).
    virtual bool reads_from_mapping() const { return false; }
};

}  // namespace berth::devices::block
