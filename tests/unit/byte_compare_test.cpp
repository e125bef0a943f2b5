// The byte-buffer assertions of byte_compare.hpp: they must still fail on a difference
// (else every test using them could not fail), and say where without printing the bytes.

#include <catch2/catch.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tests/unit/byte_compare.hpp"

using berth::test::as_number;
using berth::test::same_bytes;

TEST_CASE("same_bytes accepts equal buffers of any byte type", "[test-helpers]") {
    const std::vector<std::uint8_t> bytes = {0x01, 0x0a, 0x85, 0xff};
    CHECK(same_bytes(bytes, std::array<std::uint8_t, 4>{0x01, 0x0a, 0x85, 0xff}));
    CHECK(same_bytes(bytes, std::string_view("\x01\x0a\x85\xff", 4)));
    CHECK(same_bytes(bytes, std::array<std::byte, 4>{std::byte{0x01}, std::byte{0x0a},
                                                     std::byte{0x85}, std::byte{0xff}}));
    CHECK(same_bytes(std::vector<std::uint8_t>{}, std::string_view()));
    CHECK(Catch::Detail::stringify(same_bytes(bytes, bytes)) == "4 bytes alike");
}

TEST_CASE("same_bytes names the first difference, not the bytes", "[test-helpers]") {
    std::vector<std::uint8_t> big(1 << 20, 0x85);
    std::vector<std::uint8_t> other = big;
    other[0x12345] = 0x0a;
    other[0x20000] = 0x00;  // a later difference is not the one named
    const auto differ = same_bytes(big, other);
    CHECK_FALSE(differ);
    CHECK(Catch::Detail::stringify(differ) ==
          "bytes differ first at offset 0x12345: 0x85, expected 0x0a (1048576 bytes, expected "
          "1048576)");

    const std::vector<std::uint8_t> prefix(big.begin(), big.begin() + 100);
    CHECK_FALSE(same_bytes(big, prefix));
    CHECK(Catch::Detail::stringify(same_bytes(prefix, big)) ==
          "100 bytes, expected 1048576 (alike over the first 100)");
    CHECK_FALSE(same_bytes(std::string_view("KVM\0", 4), std::string_view("KVM", 3)));
}

TEST_CASE("as_number prints a byte as its value", "[test-helpers]") {
    const std::uint8_t byte = 0x85;  // a line break to Python when printed raw (Latin-1)
    CHECK(as_number(byte) == 0x85);
    CHECK(Catch::Detail::stringify(as_number(byte)) == "133");
}
