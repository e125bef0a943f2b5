#include <catch2/catch.hpp>

#include <algorithm>
#include <array>

#include "tests/unit/byte_compare.hpp"
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
