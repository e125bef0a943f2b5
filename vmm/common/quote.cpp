#include "vmm/common/quote.hpp"

#include <cstdint>

#include <fmt/format.h>

namespace berth {

namespace {

enum class Quoting { value, message };

// The length of the valid UTF-8 sequence of two or more bytes at the start of `text`
// (shortest form, no surrogates, at most U+10FFFF, not a C1 control), or 0.
std::size_t utf8_sequence(std::string_view text) {
    const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(text[i]); };
    const auto continuation = [&](std::size_t i) {
        return i < text.size() && (byte(i) & 0xc0) == 0x80;
    };
    const std::uint8_t lead = byte(0);
    std::size_t length = 0;
    std::uint32_t code = 0;
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
        code = lead & 0x1f;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        code = lead & 0x0f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        code = lead & 0x07;
    } else {
        return 0;
    }
    for (std::size_t i = 1; i < length; ++i) {
        if (!continuation(i)) {
            return 0;
        }
        code = code << 6 | (byte(i) & 0x3f);
    }
    const std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < smallest[length] || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff ||
        (code >= 0x80 && code <= 0x9f)) {
        return 0;
    }
    return length;
}

std::string escape(std::string_view text, Quoting quoting) {
    std::string out;
    out.reserve(text.size() + 2);
    while (!text.empty()) {
        const char c = text.front();
        const auto byte = static_cast<std::uint8_t>(c);
        std::size_t taken = 1;
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (quoting == Quoting::value && (c == '\\' || c == '\'')) {
            out += '\\';
            out += c;
        } else if (byte >= 0x20 && byte < 0x7f) {
            out += c;
        } else if (const std::size_t length = byte >= 0x80 ? utf8_sequence(text) : 0; length > 0) {
            out.append(text.substr(0, length));
            taken = length;
        } else {
            out += fmt::format("\\x{:02x}", byte);
        }
        text.remove_prefix(taken);
    }
    return out;
}

}  // namespace

std::string quote(std::string_view text) {
    return "'" + escape(text, Quoting::value) + "'";
}

std::string one_line(std::string_view text) {
    return escape(text, Quoting::message);
}

}  // namespace berth
