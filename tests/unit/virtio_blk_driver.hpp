#pragma once
// Test helpers for virtio-blk: a temporary image with a known pattern, and a driver
// that sends one request at a time through a hand-built queue.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/unique_fd.hpp"
#include "virtio/blk.hpp"
#include "virtio_ring_builder.hpp"

namespace berth::test {

using devices::virtio::Access;
using devices::virtio::Blk;
using devices::virtio::BlkRequestType;
using devices::virtio::DiskImage;
using devices::virtio::EventIdx;
using devices::virtio::IndirectDescriptors;
using devices::virtio::ReadPath;
using devices::virtio::SplitQueue;
using devices::virtio::desc_flag_next;
using devices::virtio::desc_flag_write;

// Byte `i` of a test image: differs between neighbouring bytes and sectors, so a read
// from the wrong offset shows.
inline std::uint8_t pattern_byte(std::uint64_t i) { return static_cast<std::uint8_t>(i * 131 + (i >> 9) * 7 + 1); }

// A temporary raw image filled with pattern_byte, removed at the end of the test.
struct PatternImage {
    std::filesystem::path path;
    explicit PatternImage(std::uint64_t size) {
        char name[] = "/tmp/berth-blk-map-test-XXXXXX";
        const UniqueFd fd(::mkstemp(name));
        REQUIRE(fd.valid());
        path = name;
        std::vector<std::uint8_t> bytes(size);
        for (std::uint64_t i = 0; i < size; ++i) {
            bytes[i] = pattern_byte(i);
        }
        REQUIRE(::pwrite(fd.get(), bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(size));
    }
    ~PatternImage() { std::filesystem::remove(path); }
    // Shrinks the file behind berth's back, as another process could.
    void truncate(std::uint64_t size) const {
        REQUIRE(::truncate(path.c_str(), static_cast<off_t>(size)) == 0);
    }
    std::vector<std::uint8_t> expected(std::uint64_t offset, std::size_t length) const {
        std::vector<std::uint8_t> bytes(length);
        for (std::size_t i = 0; i < length; ++i) {
            bytes[i] = pattern_byte(offset + i);
        }
        return bytes;
    }
};

constexpr std::uint64_t header_at = RingBuilder::data;
constexpr std::uint64_t status_at = RingBuilder::data + 0x100;
constexpr std::uint64_t data_at = RingBuilder::data + 0x1000;

// Plays the driver: one request whose data is split over the guest buffers `lengths`
// (placed 64 KiB apart, so they are not contiguous in guest memory).
struct Driver {
    explicit Driver(Blk& device) : blk(device) {}
    RingBuilder ring;
    SplitQueue queue{ring.memory, ring.layout(), EventIdx::off, IndirectDescriptors::off};
    Blk& blk;

    static std::uint64_t buffer_at(std::size_t index) { return data_at + 0x10000 * index; }

    std::uint8_t request(BlkRequestType type, std::uint64_t sector,
                         const std::vector<std::uint32_t>& lengths) {
        std::uint8_t header[16] = {};
        const auto type_value = static_cast<std::uint32_t>(type);
        std::memcpy(header, &type_value, 4);
        std::memcpy(header + 8, &sector, 8);
        ring.memory.write(header_at, header);
        ring.memory.write_object<std::uint8_t>(status_at, 0xee);
        const std::uint16_t data_flag = type == BlkRequestType::in ? desc_flag_write : 0;
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

inline Blk open_blk(const PatternImage& image, Access access, ReadPath path = ReadPath::mapping_if_possible) {
    return Blk(DiskImage::open(image.path, access), "map-test", path);
}

}  // namespace berth::test
