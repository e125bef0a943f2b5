#include "vmm/machine/file_fields.hpp"

#include <zlib.h>

#include <algorithm>

namespace berth::machine {

void put_le(std::vector<std::uint8_t>& out, std::uint64_t value, unsigned width) {
    for (unsigned i = 0; i < width; ++i) {
        out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
    }
}

std::uint64_t get_le(std::span<const std::uint8_t> bytes, std::size_t offset, unsigned width) {
    std::uint64_t value = 0;
    for (unsigned i = 0; i < width; ++i) {
        value |= static_cast<std::uint64_t>(bytes[offset + i]) << (8 * i);
    }
    return value;
}

std::uint32_t crc32_of(std::span<const std::uint8_t> bytes) {
    uLong crc = ::crc32(0L, Z_NULL, 0);
    // zlib's length is a uInt: feed it in pieces.
    constexpr std::size_t piece = 1U << 30;
    for (std::size_t at = 0; at < bytes.size(); at += piece) {
        const std::size_t count = std::min(piece, bytes.size() - at);
        crc = ::crc32(crc, bytes.data() + at, static_cast<uInt>(count));
    }
    return static_cast<std::uint32_t>(crc);
}

}  // namespace berth::machine
