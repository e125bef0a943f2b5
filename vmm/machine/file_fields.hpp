#pragma once
// The byte encoding berth's own snapshot files share (the state file, snapshot_file.hpp,
// and the working set, working_set_file.hpp): little-endian integers of a given width,
// and zlib's CRC-32 over a body of any length.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace berth::machine {

// Appends the low `width` bytes of `value`, least significant first.
void put_le(std::vector<std::uint8_t>& out, std::uint64_t value, unsigned width);
// Reads `width` bytes at `offset` (which the caller has checked lie in `bytes`).
std::uint64_t get_le(std::span<const std::uint8_t> bytes, std::size_t offset, unsigned width);
std::uint32_t crc32_of(std::span<const std::uint8_t> bytes);

}  // namespace berth::machine
