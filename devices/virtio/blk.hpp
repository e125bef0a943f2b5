#pragma once
// virtio-blk on a disk backend (devices/block: a raw file or a qcow2 image). Requests
// run on the transport's worker thread (one per disk), straight between the backend
// and guest RAM (checked spans of guest memory, handed to the backend as iovecs), so a
// slow disk never stalls a vCPU or the console.
//
// Supported: read, write, flush (the backend's: what the guest flushed is on disk even
// if berth is killed), get-id, discard, write-zeroes, read-only disks
// (VIRTIO_BLK_F_RO; writes, discards and write-zeroes fail with IOERR). A request
// outside the disk, or one whose buffers are wrong (header not readable, status not
// writable, data of the wrong direction), fails with IOERR; one the device cannot even
// answer (no writable status byte) is returned with nothing written.

#include <cstdint>
#include <memory>
#include <string>

#include "devices/block/backend.hpp"
#include "devices/block/disk_spec.hpp"
#include "devices/block/raw_disk.hpp"
#include "devices/virtio/device.hpp"

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

// The disk types live in devices/block; these names are the ones callers used before.
using block::Access;
using block::DiskImage;
using block::DiskSpec;
using block::ReadPath;

struct BlkCounters {
    std::uint64_t requests = 0;
    std::uint64_t failed = 0;
};

class Blk : public Device {
public:
    // `serial`: what GET_ID returns (at most 20 bytes are used).
    Blk(std::unique_ptr<block::BlockBackend> disk, std::string serial);
    // A raw image (tests choose the read path).
    Blk(DiskImage image, std::string serial, ReadPath read_path = ReadPath::mapping_if_possible);

    std::string_view name() const override { return name_; }
    DeviceType type() const override { return DeviceType::block; }
    std::uint32_t pci_class() const override { return 0x018000; }  // mass storage, other
    std::uint64_t features() const override;
    std::uint16_t queue_count() const override { return 1; }
    std::uint32_t config_size() const override { return 0x3c; }
    void read_config(std::uint32_t offset, std::span<std::uint8_t> data) const override;
    void process(std::uint16_t index, SplitQueue& queue) override;

    std::uint64_t capacity_sectors() const { return disk_->size() / sector_size; }
    const BlkCounters& counters() const { return counters_; }
    bool reads_from_mapping() const { return disk_->reads_from_mapping(); }

private:
    // Serves one chain; returns the number of bytes written into its writable buffers.
    std::uint32_t serve(SplitQueue& queue, const DescriptorChain& chain);
    BlkStatus transfer(SplitQueue& queue, const DescriptorChain& chain, BlkRequestType type,
                       std::uint64_t sector, std::uint64_t& written);
    BlkStatus ranges(SplitQueue& queue, const DescriptorChain& chain, BlkRequestType type);
    BlkStatus read(SplitQueue& queue, const DescriptorChain& chain, std::uint64_t offset,
                   std::uint64_t length);

    std::unique_ptr<block::BlockBackend> disk_;
    std::string serial_;
    std::string name_;
    BlkCounters counters_;
};

}  // namespace berth::devices::virtio
