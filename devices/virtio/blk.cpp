#include "devices/virtio/blk.hpp"

#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace berth::devices::virtio {

namespace {

constexpr std::uint32_t header_size = 16;
// Data segments per request: the queue size less the header and status descriptors,
// so that a 1 MiB request of scattered 4 KiB guest pages (256 segments with the
// header and status) is one request, not three: at queue depth 1 each request costs
// a notification and an interrupt. Longer chains go through indirect descriptors.
constexpr std::uint32_t seg_max = 254;
constexpr std::uint32_t id_bytes = 20;
constexpr std::uint32_t max_range_sectors = 1u << 22;  // 2 GiB per discard/write-zeroes segment
constexpr std::uint32_t max_range_segments = 1;

struct RangeSegment {
    std::uint64_t sector;
    std::uint32_t sectors;
    std::uint32_t flags;
};
static_assert(sizeof(RangeSegment) == 16);

// The host iovecs for `length` bytes of `buffers` starting `skip` bytes in.
std::vector<iovec> host_iovecs(memory::GuestMemory& memory, const std::vector<Buffer>& buffers,
                               std::uint64_t skip, std::uint64_t length) {
    std::vector<iovec> iovecs;
    for (const auto& buffer : buffers) {
        if (length == 0) {
            break;
        }
        if (skip >= buffer.length) {
            skip -= buffer.length;
            continue;
        }
        const std::uint64_t count = std::min<std::uint64_t>(buffer.length - skip, length);
        const auto span = memory.span(buffer.address + skip, count);
        iovecs.push_back({span.data(), span.size()});
        length -= count;
        skip = 0;
    }
    return iovecs;
}

bool in_range(std::uint64_t sector, std::uint64_t bytes, std::uint64_t disk_bytes) {
    return sector <= disk_bytes / sector_size && bytes <= disk_bytes - sector * sector_size;
}

}  // namespace

Blk::Blk(std::unique_ptr<block::BlockBackend> disk, std::string serial)
    : disk_(std::move(disk)),
      serial_(std::move(serial)),
      name_(fmt::format("virtio-blk ({})", disk_->path().filename().string())) {
    if (serial_.size() > id_bytes) {
        serial_.resize(id_bytes);
    }
}

Blk::Blk(DiskImage image, std::string serial, ReadPath read_path)
    : Blk(std::make_unique<block::RawDisk>(std::move(image), read_path), std::move(serial)) {}

std::uint64_t Blk::features() const {
    std::uint64_t features = blk_feature_seg_max | blk_feature_blk_size | blk_feature_flush;
    if (disk_->access() == Access::read_only) {
        features |= blk_feature_ro;
    } else {
        features |= blk_feature_discard | blk_feature_write_zeroes;
    }
    return features;
}

void Blk::read_config(std::uint32_t offset, std::span<std::uint8_t> data) const {
    std::array<std::uint8_t, 0x3c> config{};
    auto put = [&](std::uint32_t at, std::uint64_t value, unsigned width) {
        for (unsigned i = 0; i < width; ++i) {
            config[at + i] = static_cast<std::uint8_t>(value >> (8 * i));
        }
    };
    put(0x00, capacity_sectors(), 8);
    put(0x0c, seg_max, 4);
    put(0x14, sector_size, 4);  // blk_size
    put(0x22, 1, 2);            // num_queues
    put(0x24, max_range_sectors, 4);
    put(0x28, max_range_segments, 4);
    put(0x2c, 1, 4);  // discard_sector_alignment
    put(0x30, max_range_sectors, 4);
    put(0x34, max_range_segments, 4);
    config[0x38] = 1;  // write_zeroes_may_unmap
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = offset + i < config.size() ? config[offset + i] : 0;
    }
}

void Blk::process(std::uint16_t, SplitQueue& queue) {
    while (auto chain = queue.pop()) {
        const std::uint32_t written = serve(queue, *chain);
        queue.push_used(chain->head, written);
    }
}

std::uint32_t Blk::serve(SplitQueue& queue, const DescriptorChain& chain) {
    ++counters_.requests;
    if (!chain.malformed.empty() || chain.writable.empty() || chain.writable_bytes() == 0) {
        ++counters_.failed;
        return 0;  // nowhere to put a status: hand the chain back untouched
    }
    std::uint64_t written = 0;
    BlkStatus status = BlkStatus::ioerr;
    if (chain.readable_bytes() >= header_size) {
        std::array<std::uint8_t, header_size> header{};
        queue.gather(chain, 0, header);
        std::uint32_t type = 0;
        std::uint64_t sector = 0;
        std::memcpy(&type, header.data(), 4);
        std::memcpy(&sector, header.data() + 8, 8);
        status = transfer(queue, chain, static_cast<BlkRequestType>(type), sector, written);
    }
    if (status != BlkStatus::ok) {
        ++counters_.failed;
    }
    // The status is the last byte of the device-writable part as one stream (virtio 1.2,
    // 2.6.4: no assumptions about framing), not the byte before the last descriptor's
    // address: a hostile driver's last writable descriptor may have no bytes at all.
    const std::uint8_t status_byte = static_cast<std::uint8_t>(status);
    queue.scatter(chain, chain.writable_bytes() - 1, std::span(&status_byte, 1));
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(written + 1, chain.writable_bytes()));
}

BlkStatus Blk::transfer(SplitQueue& queue, const DescriptorChain& chain, BlkRequestType type,
                        std::uint64_t sector, std::uint64_t& written) {
    const bool read_only = disk_->access() == Access::read_only;
    // Data lies after the 16-byte header (device-readable) or before the status byte
    // (device-writable).
    const std::uint64_t out_bytes = chain.readable_bytes() - header_size;
    const std::uint64_t in_bytes = chain.writable_bytes() - 1;
    switch (type) {
        case BlkRequestType::in: {
            if (out_bytes != 0 || !in_range(sector, in_bytes, disk_->size())) {
                return BlkStatus::ioerr;
            }
            const BlkStatus status = read(queue, chain, sector * sector_size, in_bytes);
            if (status == BlkStatus::ok) {
                written = in_bytes;
            }
            return status;
        }
        case BlkRequestType::out: {
            if (read_only || in_bytes != 0 || !in_range(sector, out_bytes, disk_->size())) {
                return BlkStatus::ioerr;
            }
            const auto iovecs = host_iovecs(queue.memory(), chain.readable, header_size, out_bytes);
            return disk_->write(iovecs, sector * sector_size) ? BlkStatus::ok : BlkStatus::ioerr;
        }
        case BlkRequestType::flush:
            if (read_only) {
                return BlkStatus::ok;  // nothing was ever written
            }
            return disk_->flush() ? BlkStatus::ok : BlkStatus::ioerr;
        case BlkRequestType::get_id: {
            std::array<std::uint8_t, id_bytes> id{};
            std::memcpy(id.data(), serial_.data(), serial_.size());
            written = queue.scatter(
                chain, 0, std::span(id).first(std::min<std::uint64_t>(id_bytes, in_bytes)));
            return BlkStatus::ok;
        }
        case BlkRequestType::discard:
        case BlkRequestType::write_zeroes:
            if (read_only || in_bytes != 0) {
                return BlkStatus::ioerr;
            }
            return ranges(queue, chain, type);
    }
    return BlkStatus::unsupported;
}

// Fills the chain's writable data buffers with `length` bytes of the disk at `offset`
// (checked against the disk's size by the caller).
BlkStatus Blk::read(SplitQueue& queue, const DescriptorChain& chain, std::uint64_t offset,
                    std::uint64_t length) {
    const auto iovecs = host_iovecs(queue.memory(), chain.writable, 0, length);
    return disk_->read(iovecs, offset) ? BlkStatus::ok : BlkStatus::ioerr;
}

BlkStatus Blk::ranges(SplitQueue& queue, const DescriptorChain& chain, BlkRequestType type) {
    const std::uint64_t bytes = chain.readable_bytes() - header_size;
    if (bytes == 0 || bytes % sizeof(RangeSegment) != 0 ||
        bytes / sizeof(RangeSegment) > max_range_segments) {
        return BlkStatus::ioerr;
    }
    for (std::uint64_t at = 0; at < bytes; at += sizeof(RangeSegment)) {
        RangeSegment segment{};
        queue.gather(chain, header_size + at,
                     std::span(reinterpret_cast<std::uint8_t*>(&segment), sizeof segment));
        const std::uint64_t length = std::uint64_t{segment.sectors} * sector_size;
        if (segment.sectors > max_range_sectors ||
            !in_range(segment.sector, length, disk_->size()) || (segment.flags & ~1u) != 0 ||
            (type == BlkRequestType::discard && segment.flags != 0)) {
            return BlkStatus::ioerr;
        }
        const std::uint64_t offset = segment.sector * sector_size;
        const bool done = type == BlkRequestType::discard ? disk_->discard(offset, length)
                                                          : disk_->write_zeroes(offset, length);
        if (!done) {
            return BlkStatus::ioerr;
        }
    }
    return BlkStatus::ok;
}

}  // namespace berth::devices::virtio
