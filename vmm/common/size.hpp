#pragma once
// Parsing and printing of byte sizes as users write them: "512", "64K", "256M", "2G".

#include <cstdint>
#include <string>
#include <string_view>

namespace berth {

// Parses a size with an optional binary suffix (K, M, G, T; "KiB"/"MB" forms and
// lower case accepted, all meaning powers of 1024). Throws a bad-input Error that
// names `what` when the text is not a size or overflows 64 bits.
std::uint64_t parse_size(std::string_view text, std::string_view what);

// "16 MiB", "4 KiB", "1536 bytes": the largest unit that divides the size exactly.
std::string format_size(std::uint64_t bytes);

}  // namespace berth
