// virtio-blk's read path through a shared mapping of the image: the bytes are the
// file's, writes show up in later reads, a file truncated under the mapping fails the
// request instead of killing berth, and the preadv fallback still works. What a
// SIGBUS outside a guarded copy does is in fatal_signal_test.cpp (a process of its own).

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "devices/virtio/blk.hpp"
#include "devices/virtio/file_mapping.hpp"
#include "tests/unit/byte_compare.hpp"
#include "tests/unit/virtio_blk_driver.hpp"
#include "vmm/common/unique_fd.hpp"

using namespace berth::devices::virtio;
using namespace berth::test;
using berth::UniqueFd;

TEST_CASE("virtio-blk reads a regular file's bytes through its mapping", "[virtio][blk]") {
    PatternImage image(1 << 20);
    Blk blk = open_blk(image, Access::read_only);
    REQUIRE(blk.reads_from_mapping());
    Driver driver(blk);

    const std::vector<std::uint32_t> segments = {512, 1536, 4096, 2048};  // 8 KiB
    CHECK(driver.request(BlkRequestType::in, 3, segments) == 0);
    CHECK(same_bytes(driver.data(segments), image.expected(3 * 512, 8192)));
    // One large segment (guest pages that happen to be contiguous): copied in pieces.
    CHECK(driver.request(BlkRequestType::in, 1, {65536 + 1536}) == 0);
    CHECK(same_bytes(driver.data({65536 + 1536}), image.expected(512, 65536 + 1536)));
    CHECK(driver.request(BlkRequestType::in, 2047, {512}) == 0);  // the last sector
    CHECK(same_bytes(driver.data({512}), image.expected(2047 * 512, 512)));
    CHECK(driver.request(BlkRequestType::in, 2047, {1024}) == 1);  // runs past the end
    CHECK(blk.counters().failed == 1);
}

TEST_CASE("virtio-blk reads through the mapping see the device's own writes", "[virtio][blk]") {
    PatternImage image(1 << 20);
    Blk blk = open_blk(image, Access::read_write);
    REQUIRE(blk.reads_from_mapping());
    Driver driver(blk);

    // Read first, so the page is in the mapping before it is written with pwritev.
    CHECK(driver.request(BlkRequestType::in, 16, {4096}) == 0);
    CHECK(same_bytes(driver.data({4096}), image.expected(16 * 512, 4096)));
    driver.ring.memory.fill(Driver::buffer_at(0), 1024, 0x5a);
    CHECK(driver.request(BlkRequestType::out, 17, {1024}) == 0);
    driver.ring.memory.fill(Driver::buffer_at(0), 4096, 0);
    CHECK(driver.request(BlkRequestType::in, 16, {4096}) == 0);
    auto expected = image.expected(16 * 512, 4096);
    std::fill(expected.begin() + 512, expected.begin() + 1536, 0x5a);
    CHECK(same_bytes(driver.data({4096}), expected));

    // Write-zeroes (fallocate) shows through the mapping too.
    std::uint8_t segment[16] = {};
    const std::uint64_t sector = 16;
    const std::uint32_t sectors = 8;
    std::memcpy(segment, &sector, 8);
    std::memcpy(segment + 8, &sectors, 4);
    driver.ring.memory.write(Driver::buffer_at(0), segment);
    CHECK(driver.request(BlkRequestType::write_zeroes, 0, {16}) == 0);
    CHECK(driver.request(BlkRequestType::in, 16, {4096}) == 0);
    CHECK(same_bytes(driver.data({4096}), std::vector<std::uint8_t>(4096, 0)));
}

TEST_CASE("a disk image truncated under its mapping fails reads with IOERR", "[virtio][blk]") {
    PatternImage image(1 << 20);
    Blk blk = open_blk(image, Access::read_write);
    REQUIRE(blk.reads_from_mapping());
    Driver driver(blk);
    CHECK(driver.request(BlkRequestType::in, 1000, {4096}) == 0);  // mapped in before

    image.truncate(4096);
    CHECK(driver.request(BlkRequestType::in, 1000, {4096}) == 1);  // SIGBUS, caught
    CHECK(driver.request(BlkRequestType::in, 0, {4096}) == 0);     // still inside the file
    CHECK(same_bytes(driver.data({4096}), image.expected(0, 4096)));
    CHECK(driver.request(BlkRequestType::in, 6, {512, 1024}) == 1);  // crosses the new end
    CHECK(driver.request(BlkRequestType::in, 1500, {4096}) == 1);    // a second fault is caught too
    CHECK(blk.counters().failed == 3);
}

TEST_CASE("virtio-blk falls back to preadv and it behaves the same", "[virtio][blk]") {
    PatternImage image(1 << 20);
    Blk blk = open_blk(image, Access::read_write, ReadPath::preadv_only);
    REQUIRE_FALSE(blk.reads_from_mapping());
    Driver driver(blk);
    const std::vector<std::uint32_t> segments = {512, 1536, 4096};
    CHECK(driver.request(BlkRequestType::in, 9, segments) == 0);
    CHECK(same_bytes(driver.data(segments), image.expected(9 * 512, 6144)));
    driver.ring.memory.fill(Driver::buffer_at(0), 512, 0xc3);
    CHECK(driver.request(BlkRequestType::out, 9, {512}) == 0);
    CHECK(driver.request(BlkRequestType::in, 9, {512}) == 0);
    CHECK(same_bytes(driver.data({512}), std::vector<std::uint8_t>(512, 0xc3)));
    image.truncate(4096);
    CHECK(driver.request(BlkRequestType::in, 1000, {4096}) == 1);  // end of file
}

TEST_CASE("file mappings are only made of regular files", "[virtio][blk]") {
    const UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    REQUIRE(null.valid());
    CHECK_FALSE(FileMapping::map_read_only(null.get(), 4096).has_value());
    PatternImage image(8192);
    const UniqueFd file(::open(image.path.c_str(), O_RDONLY | O_CLOEXEC));
    auto mapping = FileMapping::map_read_only(file.get(), 8192);
    REQUIRE(mapping.has_value());
    CHECK(mapping->bytes().size() == 8192);
    CHECK(same_bytes(mapping->bytes(), image.expected(0, 8192)));
    FileMapping moved = std::move(*mapping);
    CHECK(as_number(moved.bytes()[100]) == as_number(pattern_byte(100)));
}
