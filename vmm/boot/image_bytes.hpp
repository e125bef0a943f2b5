// The byte-level helpers berth's kernel loaders share (ELF, Multiboot, PVH): reading a
// field out of a kernel file, writing one into a block berth builds for the guest
// (Multiboot's info, PVH's start_info), and rounding addresses up. x86 is little-endian
// like the host, so a memcpy of the value is the layout both sides expect. Callers check
// the offsets against the size first.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace berth::boot {

template <typename T>
T load(std::span<const std::uint8_t> bytes, std::uint64_t offset) {
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

inline void store32(std::vector<std::uint8_t>& bytes, std::size_t offset, std::uint32_t value) {
    std::memcpy(bytes.data() + offset, &value, sizeof value);
}

inline void store64(std::vector<std::uint8_t>& bytes, std::size_t offset, std::uint64_t value) {
    std::memcpy(bytes.data() + offset, &value, sizeof value);
}

constexpr std::uint64_t align_up(std::uint64_t value, std::uint64_t alignment) {
    return (value + alignment - 1) / alignment * alignment;
}

}  // namespace berth::boot
