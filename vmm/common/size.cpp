#include "vmm/common/size.hpp"

#include <cctype>
#include <charconv>
#include <limits>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth {

namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

// Returns the shift for a suffix, or -1 when the suffix is not one we know.
int suffix_shift(std::string_view suffix) {
    const std::string s = lower(suffix);
    if (s.empty() || s == "b") {
        return 0;
    }
    const char unit = s[0];
    const std::string_view rest = std::string_view(s).substr(1);
    if (!(rest.empty() || rest == "b" || rest == "ib")) {
        return -1;
    }
    switch (unit) {
        case 'k':
            return 10;
        case 'm':
            return 20;
        case 'g':
            return 30;
        case 't':
            return 40;
        default:
            return -1;
    }
}

}  // namespace

std::uint64_t parse_size(std::string_view text, std::string_view what) {
    auto fail = [&](std::string_view why) {
        return bad_input(
            fmt::format("{} {} {}; write a number of bytes with an optional "
                        "suffix K, M or G (e.g. 256M)",
                        what, quote(text), why));
    };
    std::uint64_t value = 0;
    const char* begin = text.data();
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(begin, end, value);
    if (ptr == begin) {
        throw fail("is not a size");
    }
    if (ec == std::errc::result_out_of_range) {
        throw fail("is too large");
    }
    const int shift = suffix_shift(std::string_view(ptr, static_cast<std::size_t>(end - ptr)));
    if (shift < 0) {
        throw fail("has an unknown unit");
    }
    if (shift > 0 && value > (std::numeric_limits<std::uint64_t>::max() >> shift)) {
        throw fail("is too large");
    }
    return value << shift;
}

std::string format_size(std::uint64_t bytes) {
    static constexpr const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    int unit = 0;
    while (unit < 4 && bytes != 0 && bytes % 1024 == 0) {
        bytes /= 1024;
        ++unit;
    }
    return fmt::format("{} {}", bytes, units[unit]);
}

}  // namespace berth
