#include "vmm/net/ipv4.hpp"

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/parse_number.hpp"
#include "vmm/common/quote.hpp"

namespace berth::net {

std::string ipv4_text(std::uint32_t address) {
    return fmt::format("{}.{}.{}.{}", address >> 24, (address >> 16) & 0xff, (address >> 8) & 0xff,
                       address & 0xff);
}

std::string Ipv4Cidr::address_text() const {
    return ipv4_text(address);
}

std::string Ipv4Cidr::text() const {
    return fmt::format("{}/{}", address_text(), prefix);
}

namespace {

// A decimal number as addresses are written: no leading zero ("010" is 8 to inet_aton
// and 10 to from_chars; neither reading is what the user surely meant).
template <typename T>
bool parse_decimal(std::string_view text, T& value) {
    return !(text.size() > 1 && text.front() == '0') && parse_whole_number(text, value);
}

}  // namespace

Ipv4Cidr parse_cidr(std::string_view text, std::string_view what) {
    const auto fail = [&] {
        return bad_input(fmt::format("{} {} is not an IPv4 address with prefix (like 10.88.0.5/16)",
                                     what, quote(text)));
    };
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) {
        throw fail();
    }
    Ipv4Cidr cidr;
    if (!parse_decimal(text.substr(slash + 1), cidr.prefix) || cidr.prefix < 0 ||
        cidr.prefix > 32) {
        throw fail();
    }
    std::string_view rest = text.substr(0, slash);
    for (int part = 0; part < 4; ++part) {
        const auto dot = rest.find('.');
        if ((part < 3) == (dot == std::string_view::npos)) {
            throw fail();
        }
        const auto piece = rest.substr(0, dot);
        unsigned octet = 0;
        if (piece.size() > 3 || !parse_decimal(piece, octet) || octet > 255) {
            throw fail();
        }
        cidr.address = (cidr.address << 8) | octet;
        rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
    }
    return cidr;
}

}  // namespace berth::net
