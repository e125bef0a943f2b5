#pragma once
// Reads a whole string as one number (decimal unless `base` says otherwise), as flags
// and config fields are read: no sign unless T is signed, no spaces, no prefix, nothing
// left over, no overflow.

#include <charconv>
#include <string_view>
#include <system_error>

namespace berth {

template <typename T>
bool parse_whole_number(std::string_view text, T& value, int base = 10) {
    if (text.empty()) {
        return false;
    }
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    return error == std::errc{} && end == text.data() + text.size();
}

}  // namespace berth
