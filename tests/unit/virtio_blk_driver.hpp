#pragma once
// Test helpers for virtio-blk: temporary images (zeros or a known pattern), and a driver
// that sends one request at a time through a hand-built queue.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string_view>
#include <vector>

#include "devices/virtio/blk.hpp"
#include "tests/unit/virtio_ring_builder.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::test {

using devices::virtio::Access;
using devices::virtio::Blk;
using devices::virtio::BlkRequestType;
using devices::virtio::desc_flag_next;
using devices::virtio::desc_flag_write;
using devices::virtio::DiskImage;
using devices::virtio::EventIdx;
using devices::virtio::IndirectDescriptors;
using devices::virtio::ReadPath;
using devices::virtio::SplitQueue;

// Byte `i` of a test image: differs between neighbouring bytes and sectors, so a read
// from the wrong offset shows.
inline std::uint8_t pattern_byte(std::uint64_t i) {
    return static_cast<std::uint8_t>(i * 131 + (i >> 9) * 7 + 1);
}

// Bytes `offset` to `offset + length` of a pattern image.
inline std::vector<std::uint8_t> pattern_bytes(std::uint64_t offset, std::size_t length) {
    std::vector<std::uint8_t> bytes(length);
    for (std::size_t i = 0; i < length; ++i) {
        bytes[i] = pattern_byte(offset + i);
    }
    return bytes;
}

// A temporary raw image holding `contents` (or `size` zero bytes), removed at the end
// of the test.
struct TempImage {
    std::filesystem::path path;
    explicit TempImage(std::span<const std::uint8_t> contents) {
        char name[] = "/tmp/berth-blk-test-XXXXXX";
        const UniqueFd fd(::mkstemp(name));
        REQUIRE(fd.valid());
        path = name;
        REQUIRE(::pwrite(fd.get(), contents.data(), contents.size(), 0) ==
                static_cast<ssize_t>(contents.size()));
    }
    explicit TempImage(std::uint64_t size) : TempImage(std::vector<std::uint8_t>(size)) {}
    TempImage(const TempImage&) = delete;
    TempImage& operator=(const TempImage&) = delete;
    ~TempImage() { std::filesystem::remove(path); }

    // Shrinks the file behind berth's back, as another process could.
    void truncate(std::uint64_t size) const {
        REQUIRE(::truncate(path.c_str(), static_cast<off_t>(size)) == 0);
    }
    // The file's bytes now (zeros past its end).
    std::vector<std::uint8_t> read(std::uint64_t offset, std::size_t length) const {
        std::vector<std::uint8_t> bytes(length);
        std::ifstream file(path, std::ios::binary);
        file.seekg(static_cast<std::streamoff>(offset));
        file.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(length));
        return bytes;
    }
};

// A temporary raw image filled with pattern_byte.
struct PatternImage : TempImage {
    explicit PatternImage(std::uint64_t size) : TempImage(pattern_bytes(0, size)) {}
    // What the image held at `offset` when it was made.
    std::vector<std::uint8_t> expected(std::uint64_t offset, std::size_t length) const {
        return pattern_bytes(offset, length);
    }
};

constexpr std::uint64_t header_at = RingBuilder::data;
constexpr std::uint64_t status_at = RingBuilder::data + 0x100;
constexpr std::uint64_t data_at = RingBuilder::data + 0x1000;  // the first data buffer

// Who writes a request's data buffers: the device (in, get_id) or the driver (out,
// discard, write_zeroes). A test of a buffer in the wrong direction names the other one.
enum class DataDirection { device_reads, device_writes };

constexpr DataDirection direction_of(BlkRequestType type) {
    return type == BlkRequestType::in || type == BlkRequestType::get_id
               ? DataDirection::device_writes
               : DataDirection::device_reads;
}

// Plays the driver: one request at a time in descriptors 0..n, header (16 bytes), data
// split over the guest buffers `lengths` (none: no data descriptor; placed 64 KiB apart,
// so they are not contiguous in guest memory), status byte. The queue offers indirect
// descriptors when `indirect` says so; the chains built here are direct either way.
struct Driver {
    explicit Driver(Blk& device, IndirectDescriptors indirect = IndirectDescriptors::off)
        : queue(ring.memory, ring.layout(), EventIdx::off, indirect), blk(device) {}
    RingBuilder ring;
    SplitQueue queue;
    Blk& blk;

    static std::uint64_t buffer_at(std::size_t index) { return data_at + 0x10000 * index; }

    // Runs the request; returns its status byte (0xee if the device wrote none).
    std::uint8_t request(BlkRequestType type, std::uint64_t sector,
                         const std::vector<std::uint32_t>& lengths) {
        return request(type, sector, lengths, direction_of(type));
    }
    std::uint8_t request(BlkRequestType type, std::uint64_t sector,
                         const std::vector<std::uint32_t>& lengths, DataDirection direction) {
        std::uint8_t header[16] = {};
        const auto type_value = static_cast<std::uint32_t>(type);
        std::memcpy(header, &type_value, 4);
        std::memcpy(header + 8, &sector, 8);
        ring.memory.write(header_at, header);
        ring.memory.write_object<std::uint8_t>(status_at, 0xee);
        const std::uint16_t data_flag =
            direction == DataDirection::device_writes ? desc_flag_write : 0;
        ring.set_desc(0, header_at, 16, desc_flag_next, 1);
        std::uint16_t index = 1;
        for (std::size_t i = 0; i < lengths.size(); ++i, ++index) {
            ring.set_desc(index, buffer_at(i), lengths[i], desc_flag_next | data_flag,
                          static_cast<std::uint16_t>(index + 1));
        }
        ring.set_desc(index, status_at, 1, desc_flag_write);
        ring.publish(0);
        blk.process(0, queue);
        return ring.memory.read_object<std::uint8_t>(status_at);
    }

    // The length the device reported for the last chain it handed back.
    std::uint32_t last_used_length() const {
        return ring.used_element(static_cast<std::uint16_t>(ring.used_idx() - 1)).length;
    }

    // The data of the last read, buffers joined.
    std::vector<std::uint8_t> data(const std::vector<std::uint32_t>& lengths) const {
        std::vector<std::uint8_t> joined;
        for (std::size_t i = 0; i < lengths.size(); ++i) {
            std::vector<std::uint8_t> part(lengths[i]);
            ring.memory.read(buffer_at(i), part);
            joined.insert(joined.end(), part.begin(), part.end());
        }
        return joined;
    }
};

// The serial number (VIRTIO_BLK_T_GET_ID) of the disks open_blk makes.
constexpr std::string_view blk_test_serial = "berth-test-serial";

inline Blk open_blk(const TempImage& image, Access access,
                    ReadPath path = ReadPath::mapping_if_possible) {
    return Blk(DiskImage::open(image.path, access), std::string(blk_test_serial), path);
}

}  // namespace berth::test
