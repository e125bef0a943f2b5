#pragma once
// Test helpers: assertions on bytes that keep the bytes out of the test output.
//
// Catch2's TAP reporter prints both operands of every comparison, passing ones too, and
// prints a byte >= 0x80 raw. Compared buffers of binary data made lines of up to 15 MB
// of raw bytes in the TAP stream; meson reads that stream in pieces of at most 64 KiB and
// reported the pieces as "Unknown TAP output lines", noise that can hide a real problem
// (and a raw 0x85 is a line break to Python once meson falls back to Latin-1).
// CHECK(same_bytes(a, b)) prints only the size when the buffers are alike, and the first
// differing offset with its two bytes in hex when they are not. A single byte compares
// as a number: CHECK(as_number(b) == 0x87) prints 135, not the raw byte.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <ranges>
#include <span>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace berth::test {

// What Catch2 prints for CHECK(same_bytes(...)): a short sentence, never the bytes.
class ByteComparison {
public:
    ByteComparison(bool same, std::string summary) : same_(same), summary_(std::move(summary)) {}
    explicit operator bool() const { return same_; }
    friend std::ostream& operator<<(std::ostream& out, const ByteComparison& comparison) {
        return out << comparison.summary_;
    }

private:
    bool same_;
    std::string summary_;
};

// Any contiguous run of one-byte values: std::vector<std::uint8_t>, std::array,
// std::span, std::string, std::string_view, C arrays.
template <typename Range>
concept ByteRange = std::ranges::contiguous_range<Range> && std::ranges::sized_range<Range> &&
                    sizeof(std::ranges::range_value_t<Range>) == 1;

template <ByteRange Range>
std::span<const std::uint8_t> as_bytes_view(const Range& range) {
    return {reinterpret_cast<const std::uint8_t*>(std::ranges::data(range)),
            std::ranges::size(range)};
}

inline ByteComparison same_bytes(std::span<const std::uint8_t> actual,
                                 std::span<const std::uint8_t> expected) {
    const auto [left, right] = std::ranges::mismatch(actual, expected);
    const auto offset = static_cast<std::size_t>(left - actual.begin());
    if (left != actual.end() && right != expected.end()) {
        return {false, fmt::format("bytes differ first at offset {:#x}: {:#04x}, expected {:#04x} "
                                   "({} bytes, expected {})",
                                   offset, unsigned{*left}, unsigned{*right}, actual.size(),
                                   expected.size())};
    }
    if (actual.size() != expected.size()) {
        return {false, fmt::format("{} bytes, expected {} (alike over the first {})", actual.size(),
                                   expected.size(), offset)};
    }
    return {true, fmt::format("{} bytes alike", actual.size())};
}

template <ByteRange Actual, ByteRange Expected>
ByteComparison same_bytes(const Actual& actual, const Expected& expected) {
    return same_bytes(as_bytes_view(actual), as_bytes_view(expected));
}

// One byte as a number: Catch2 prints an std::uint8_t as a character, raw when >= 0x80.
constexpr unsigned as_number(std::uint8_t byte) {
    return byte;
}

}  // namespace berth::test
