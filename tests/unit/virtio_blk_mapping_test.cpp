// virtio-blk's read path through a shared mapping of the image: the bytes are the
// file's, writes show up in later reads, a file truncated under the mapping fails the
// request instead of killing berth, and the preadv fallback still works.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/unique_fd.hpp"
#include "virtio/blk.hpp"
#include "virtio/file_mapping.hpp"
#include "virtio/sigbus_guard.hpp"
#include "virtio_ring_builder.hpp"

using namespace berth::devices::virtio;
using berth::UniqueFd;
using berth::test::RingBuilder;

namespace {

// Byte `i` of a test image: differs between neighbouring bytes and sectors, so a read
// from the wrong offset shows.
std::uint8_t pattern_byte(std::uint64_t i) { return static_cast<std::uint8_t>(i * 131 + (i >> 9) * 7 + 1); }

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

Blk open_blk(const PatternImage& image, Access access, ReadPath path = ReadPath::mapping_if_possible) {
    return Blk(DiskImage::open(image.path, access), "map-test", path);
}

}  // namespace

TEST_CASE("virtio-blk reads a regular file's bytes through its mapping", "[virtio][blk]") {
    PatternImage image(1 << 20);
    Blk blk = open_blk(image, Access::read_only);
    REQUIRE(blk.reads_from_mapping());
    Driver driver(blk);

    const std::vector<std::uint32_t> segments = {512, 1536, 4096, 2048};  // 8 KiB
    CHECK(driver.request(BlkRequestType::in, 3, segments) == 0);
    CHECK(driver.data(segments) == image.expected(3 * 512, 8192));
    // One large segment (guest pages that happen to be contiguous): copied in pieces.
    CHECK(driver.request(BlkRequestType::in, 1, {65536 + 1536}) == 0);
    CHECK(driver.data({65536 + 1536}) == image.expected(512, 65536 + 1536));
    CHECK(driver.request(BlkRequestType::in, 2047, {512}) == 0);  // the last sector
    CHECK(driver.data({512}) == image.expected(2047 * 512, 512));
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
    CHECK(driver.data({4096}) == image.expected(16 * 512, 4096));
    driver.ring.memory.fill(Driver::buffer_at(0), 1024, 0x5a);
    CHECK(driver.request(BlkRequestType::out, 17, {1024}) == 0);
    driver.ring.memory.fill(Driver::buffer_at(0), 4096, 0);
    CHECK(driver.request(BlkRequestType::in, 16, {4096}) == 0);
    auto expected = image.expected(16 * 512, 4096);
    std::fill(expected.begin() + 512, expected.begin() + 1536, 0x5a);
    CHECK(driver.data({4096}) == expected);

    // Write-zeroes (fallocate) shows through the mapping too.
    std::uint8_t segment[16] = {};
    const std::uint64_t sector = 16;
    const std::uint32_t sectors = 8;
    std::memcpy(segment, &sector, 8);
    std::memcpy(segment + 8, &sectors, 4);
    driver.ring.memory.write(Driver::buffer_at(0), segment);
    CHECK(driver.request(BlkRequestType::write_zeroes, 0, {16}) == 0);
    CHECK(driver.request(BlkRequestType::in, 16, {4096}) == 0);
    CHECK(driver.data({4096}) == std::vector<std::uint8_t>(4096, 0));
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
    CHECK(driver.data({4096}) == image.expected(0, 4096));
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
    CHECK(driver.data(segments) == image.expected(9 * 512, 6144));
    driver.ring.memory.fill(Driver::buffer_at(0), 512, 0xc3);
    CHECK(driver.request(BlkRequestType::out, 9, {512}) == 0);
    CHECK(driver.request(BlkRequestType::in, 9, {512}) == 0);
    CHECK(driver.data({512}) == std::vector<std::uint8_t>(512, 0xc3));
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
    CHECK(std::vector<std::uint8_t>(mapping->bytes().begin(), mapping->bytes().end()) ==
          image.expected(0, 8192));
    FileMapping moved = std::move(*mapping);
    CHECK(moved.bytes()[100] == pattern_byte(100));
}

namespace {

volatile int sink = 0;  // keeps the unguarded read
void exit_43(int) { ::_exit(43); }

// In a child: runs `body`, which must end the child itself; returns its wait status.
template <typename Body>
int in_child(Body body) {
    // No Catch2 assertion may run in the child: the reporter would print it twice.
    const pid_t child = ::fork();
    if (child == 0) {
        body();
        ::_exit(0);
    }
    REQUIRE(child > 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    return status;
}

}  // namespace

TEST_CASE("SIGBUS outside a guarded copy still goes to the previous action", "[virtio][blk]") {
    PatternImage image(1 << 16);
    // In a child: guards, then touches the truncated page unguarded. Exit 2 if the
    // guarded copy did not report the fault, 3 if the setup failed, 0 if the unguarded
    // touch survived.
    auto guarded_then_unguarded = [&](bool replace_handler) {
        const UniqueFd file(::open(image.path.c_str(), O_RDONLY | O_CLOEXEC));
        auto mapping = FileMapping::map_read_only(file.get(), 1 << 16);
        if (!mapping) {
            ::_exit(3);
        }
        if (::truncate(image.path.c_str(), 4096) != 0) {
            ::_exit(3);
        }
        std::uint8_t out[64];
        const CopyPiece piece{out, mapping->bytes().data() + 8192, sizeof out};
        if (copy_guarding_sigbus(std::span(&piece, 1)) != CopyResult::bus_error) {
            ::_exit(2);
        }
        if (replace_handler) {
            // As berth's raw terminal does after the disks exist: the next guarded copy
            // puts ours back, in front of this one.
            ::signal(SIGBUS, exit_43);
            if (copy_guarding_sigbus(std::span(&piece, 1)) != CopyResult::bus_error) {
                ::_exit(2);
            }
        }
        const volatile std::uint8_t* gone = mapping->bytes().data() + 8192;
        sink = *gone;
        ::_exit(0);
    };
    const int replaced = in_child([&] { guarded_then_unguarded(true); });
    CHECK(WIFEXITED(replaced));
    CHECK(WEXITSTATUS(replaced) == 43);
#ifndef __SANITIZE_ADDRESS__  // AddressSanitizer's own SIGBUS handler reports and exits
    const int plain = in_child([&] { guarded_then_unguarded(false); });
    CHECK(WIFSIGNALED(plain));
    CHECK(WTERMSIG(plain) == SIGBUS);
#endif
}
