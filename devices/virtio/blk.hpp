#pragma once
// virtio-blk on a raw image file. Requests run on the transport's worker thread (one
// per disk), straight between the file and guest RAM (checked spans of guest memory),
// so a slow disk never stalls a vCPU or the console. Reads of a regular file copy
// from a read-only shared mapping of it (file_mapping.hpp says why; a copy that meets
// a truncated file fails the request, sigbus_guard.hpp); reads of a block device, or
// of a file that cannot be mapped, use preadv. Writes always use pwritev.
//
// Supported: read, write, flush (fdatasync: what the guest flushed is on disk even
// if berth is killed), get-id, discard (punches a hole), write-zeroes, read-only
// disks (VIRTIO_BLK_F_RO; writes, discards and write-zeroes fail with IOERR). A
// request outside the disk, or one whose buffers are wrong (header not readable,
// status not writable, data of the wrong direction), fails with IOERR; one the
// device cannot even answer (no writable status byte) is returned with nothing
// written.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "devices/virtio/device.hpp"
#include "devices/virtio/file_mapping.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::devices::virtio {

inline constexpr std::uint64_t sector_size = 512;

enum class BlkRequestType : std::uint32_t {
    in = 0,
    out = 1,
    flush = 4,
    get_id = 8,
    discard = 11,
    write_zeroes = 13,
};

enum class BlkStatus : std::uint8_t { ok = 0, ioerr = 1, unsupported = 2 };

inline constexpr std::uint64_t blk_feature_seg_max = 1ULL << 2;
inline constexpr std::uint64_t blk_feature_ro = 1ULL << 5;
inline constexpr std::uint64_t blk_feature_blk_size = 1ULL << 6;
inline constexpr std::uint64_t blk_feature_flush = 1ULL << 9;
inline constexpr std::uint64_t blk_feature_discard = 1ULL << 13;
inline constexpr std::uint64_t blk_feature_write_zeroes = 1ULL << 14;

enum class Access { read_write, read_only };

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

// Parses a --disk argument: "PATH" or "PATH,ro".
struct DiskSpec {
    std::filesystem::path path;
    Access access = Access::read_write;
    static DiskSpec parse(const std::string& text);
};

struct BlkCounters {
    std::uint64_t requests = 0;
    std::uint64_t failed = 0;
};

class Blk : public Device {
public:
    // `serial`: what GET_ID returns (at most 20 bytes are used).
    Blk(DiskImage image, std::string serial, ReadPath read_path = ReadPath::mapping_if_possible);

    std::string_view name() const override { return name_; }
    DeviceType type() const override { return DeviceType::block; }
    std::uint32_t pci_class() const override { return 0x018000; }  // mass storage, other
    std::uint64_t features() const override;
    std::uint16_t queue_count() const override { return 1; }
    std::uint32_t config_size() const override { return 0x3c; }
    void read_config(std::uint32_t offset, std::span<std::uint8_t> data) const override;
    void process(std::uint16_t index, SplitQueue& queue) override;

    std::uint64_t capacity_sectors() const { return image_.size / sector_size; }
    const BlkCounters& counters() const { return counters_; }
    bool reads_from_mapping() const { return mapping_.has_value(); }

private:
    // Serves one chain; returns the number of bytes written into its writable buffers.
    std::uint32_t serve(SplitQueue& queue, const DescriptorChain& chain);
    BlkStatus transfer(SplitQueue& queue, const DescriptorChain& chain, BlkRequestType type,
                       std::uint64_t sector, std::uint64_t& written);
    BlkStatus ranges(SplitQueue& queue, const DescriptorChain& chain, BlkRequestType type);
    BlkStatus read(SplitQueue& queue, const DescriptorChain& chain, std::uint64_t offset,
                   std::uint64_t length);

    DiskImage image_;
    std::optional<FileMapping> mapping_;  // regular files: what reads copy from
    std::string serial_;
    std::string name_;
    BlkCounters counters_;
};

}  // namespace berth::devices::virtio
