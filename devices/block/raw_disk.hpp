#pragma once
// A raw disk: the file's bytes are the disk's. Reads of a regular file copy from a
// read-only shared mapping of it (devices/virtio/file_mapping.hpp says why; a copy that
// meets a truncated file fails the request, sigbus_guard.hpp); reads of a block device,
// or of a file that cannot be mapped, use preadv. Writes use pwritev, flush fdatasync,
// discard punches a hole, write-zeroes fallocates (or writes zeros).

#include <cstdint>
#include <filesystem>
#include <optional>

#include "devices/block/backend.hpp"
#include "devices/virtio/file_mapping.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::devices::block {

// How reads reach the image. preadv_only exists for tests of the fallback path.
enum class ReadPath { mapping_if_possible, preadv_only };

// A raw disk image opened and checked (bad input → Error with status 2).
struct DiskImage {
    std::filesystem::path path;
    Access access = Access::read_write;
    UniqueFd fd;
    std::uint64_t size = 0;  // bytes
    InputClaim claim;        // the run's record that this file is attached

    static DiskImage open(const std::filesystem::path& path, Access access);
};

class RawDisk final : public BlockBackend {
public:
    explicit RawDisk(DiskImage image, ReadPath read_path = ReadPath::mapping_if_possible);

    std::uint64_t size() const override { return image_.size; }
    Access access() const override { return image_.access; }
    std::string_view format() const override { return "raw"; }
    const std::filesystem::path& path() const override { return image_.path; }
    bool read(std::span<const iovec> to, std::uint64_t offset) override;
    bool write(std::span<const iovec> from, std::uint64_t offset) override;
    bool flush() override;
    bool write_zeroes(std::uint64_t offset, std::uint64_t length) override;
    bool discard(std::uint64_t offset, std::uint64_t length) override;
    bool reads_from_mapping() const override { return mapping_.has_value(); }

private:
    DiskImage image_;
    std::optional<virtio::FileMapping> mapping_;  // regular files: what reads copy from
};

}  // namespace berth::devices::block
