#pragma once
// IPv4 addresses with a prefix length, as the user types them ("10.88.0.5/16") and as
// rtnetlink wants them (host byte order here, converted at the netlink call).

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::net {

// An IPv4 address with prefix length; `address` in host byte order.
struct Ipv4Cidr {
    std::uint32_t address = 0;
    int prefix = 0;

    std::uint32_t netmask() const { return prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix); }
    bool contains(std::uint32_t other) const {
        return (other & netmask()) == (address & netmask());
    }
    std::string address_text() const;  // "10.88.0.2"
    std::string text() const;          // "10.88.0.2/16"
};

// "10.88.0.2" for 0x0a580002.
std::string ipv4_text(std::uint32_t address);

// Parses "A.B.C.D/N"; bad text throws a bad-input Error naming `what` (a flag or a
// config field).
Ipv4Cidr parse_cidr(std::string_view text, std::string_view what);

}  // namespace berth::net
