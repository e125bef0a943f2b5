#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <span>
#include <vector>

#include "tests/unit/byte_compare.hpp"
#include "vmm/common/temp_dir.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/memory/guest_memory.hpp"

using berth::memory::GuestMemoryError;
using berth::memory::GuestRam;
using berth::test::as_number;
using berth::test::same_bytes;

TEST_CASE("guest memory translates addresses inside RAM", "[memory]") {
    GuestRam memory;
    memory.add_ram(0, 64 * 1024);
    const std::array<std::uint8_t, 4> bytes{1, 2, 3, 4};
    memory.write(0x1000, bytes);
    std::array<std::uint8_t, 4> back{};
    memory.read(0x1000, back);
    CHECK(same_bytes(back, bytes));
    CHECK(memory.read_object<std::uint32_t>(0x1000) == 0x04030201);
    // The last byte of RAM is reachable; an empty access at the end is allowed.
    memory.write_object<std::uint8_t>(64 * 1024 - 1, 0xaa);
    CHECK(as_number(memory.span(64 * 1024 - 1, 1)[0]) == 0xaa);
    CHECK(memory.span(64 * 1024, 0).empty());
}

TEST_CASE("guest memory rejects an access straddling the end of RAM", "[memory]") {
    GuestRam memory;
    memory.add_ram(0, 64 * 1024);
    std::array<std::uint8_t, 8> buffer{};
    CHECK_THROWS_AS(memory.read(64 * 1024 - 4, buffer), GuestMemoryError);
    CHECK_THROWS_AS(memory.write(64 * 1024 - 1, buffer), GuestMemoryError);
    CHECK_FALSE(memory.contains(64 * 1024 - 4, 8));
    CHECK(memory.contains(64 * 1024 - 8, 8));
}

TEST_CASE("guest memory rejects addresses outside RAM and wrapping lengths", "[memory]") {
    GuestRam memory;
    memory.add_ram(0x100000, 0x10000);
    std::array<std::uint8_t, 1> one{};
    CHECK_THROWS_AS(memory.read(0, one), GuestMemoryError);         // below
    CHECK_THROWS_AS(memory.read(0x110000, one), GuestMemoryError);  // just past the end
    CHECK_THROWS_AS(memory.read(~0ULL, one), GuestMemoryError);     // top of the space
    // A length that would wrap address + length around 2^64 must not pass the check.
    CHECK_THROWS_AS(memory.span(0x100010, ~0ULL - 8), GuestMemoryError);
    CHECK_THROWS_WITH(memory.read(0x200000, one), Catch::Contains("outside guest RAM"));
}

TEST_CASE("guest memory does not join adjacent regions into one access", "[memory]") {
    GuestRam memory;
    memory.add_ram(0, 0x1000);
    memory.add_ram(0x1000, 0x1000);
    CHECK(memory.contains(0x0, 0x1000));
    CHECK(memory.contains(0x1000, 0x1000));
    // Two mappings are not contiguous on the host, so one span cannot cover both.
    CHECK_FALSE(memory.contains(0xff0, 0x20));
    CHECK(memory.total_size() == 0x2000);
}

TEST_CASE("guest memory refuses misaligned or overlapping RAM", "[memory]") {
    GuestRam memory;
    CHECK_THROWS(memory.add_ram(0x10, 0x1000));
    CHECK_THROWS(memory.add_ram(0, 0x1001));
    CHECK_THROWS(memory.add_ram(0, 0));
    memory.add_ram(0, 0x2000);
    CHECK_THROWS(memory.add_ram(0x1000, 0x1000));
}

TEST_CASE("new guest RAM reads as zero", "[memory]") {
    GuestRam memory;
    memory.add_ram(0, 0x4000);
    const auto bytes = memory.span(0, 0x4000);
    CHECK(std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; }));
}

// A snapshot's memory file as RAM (--restore-memory): the same bytes whether mapped
// copy-on-write or copied, holes read as zeros, and the guest's writes never reach the
// file (it restores again and again).
TEST_CASE("guest RAM from a file holds its bytes and never writes it", "[memory]") {
    const berth::TempDir dir("berth-guest-memory-test-");
    const auto path = dir.path() / "memory";
    constexpr std::size_t page = 4096;
    constexpr std::size_t offset = 2 * page;  // a second region starts inside the file
    constexpr std::size_t size = 16 * page;
    berth::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    REQUIRE(fd);
    // Data at the file's first page (before the region), at pages 3-4 and at its last
    // page of the region; holes everywhere else.
    const std::vector<std::uint8_t> ones(page, 0x11);
    const std::vector<std::uint8_t> pattern = [] {
        std::vector<std::uint8_t> bytes(2 * page);
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            bytes[i] = static_cast<std::uint8_t>(i * 7 + 1);
        }
        return bytes;
    }();
    REQUIRE(::pwrite(fd.get(), ones.data(), page, 0) == static_cast<ssize_t>(page));
    REQUIRE(::pwrite(fd.get(), pattern.data(), pattern.size(), offset + 3 * page) ==
            static_cast<ssize_t>(pattern.size()));
    REQUIRE(::pwrite(fd.get(), ones.data(), page, offset + size - page) ==
            static_cast<ssize_t>(page));
    REQUIRE(::ftruncate(fd.get(), offset + size + 4 * page) == 0);

    for (const auto load : {berth::memory::FileLoad::lazy, berth::memory::FileLoad::eager}) {
        INFO((load == berth::memory::FileLoad::lazy ? "lazy" : "eager"));
        GuestRam memory;
        memory.add_file_ram(0x100000, size, fd.get(), offset, load);
        std::vector<std::uint8_t> back(size);
        memory.read(0x100000, back);
        std::vector<std::uint8_t> expected(size, 0);
        std::copy(pattern.begin(), pattern.end(), expected.begin() + 3 * page);
        std::copy(ones.begin(), ones.end(), expected.end() - page);
        CHECK(same_bytes(back, expected));
        memory.fill(0x100000, size, 0xee);
    }
    std::vector<std::uint8_t> file(offset + size);
    REQUIRE(::pread(fd.get(), file.data(), file.size(), 0) == static_cast<ssize_t>(file.size()));
    CHECK(std::all_of(file.begin() + offset, file.begin() + offset + 3 * page,
                      [](std::uint8_t b) { return b == 0; }));
    CHECK(same_bytes(std::span(file).subspan(offset + 3 * page, pattern.size()), pattern));
    CHECK(same_bytes(std::span(file).subspan(0, page), ones));
}
