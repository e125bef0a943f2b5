#include "vmm/net/port_forward.hpp"

#include <arpa/inet.h>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/parse_number.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/net/ipv4.hpp"

namespace berth::net {

namespace {

constexpr const char* form = "give [HOSTIP:]HOSTPORT:GUESTPORT[/udp], e.g. 8080:80";

std::uint16_t parse_port(const std::string& text, const char* which) {
    std::uint64_t port = 0;
    if (!parse_whole_number(text, port, 10)) {
        throw bad_input(fmt::format("{} {} is not a number; {}", which, quote(text), form));
    }
    if (port == 0 || port > 65535) {
        throw bad_input(fmt::format("{} {} is out of range 1-65535; {}", which, text, form));
    }
    return static_cast<std::uint16_t>(port);
}

}  // namespace

PortForward PortForward::parse(const std::string& text) {
    PortForward forward;
    std::string rest = text;
    if (const auto slash = rest.rfind('/'); slash != std::string::npos) {
        const std::string protocol = rest.substr(slash + 1);
        if (protocol == "udp") {
            forward.protocol = Protocol::udp;
        } else if (protocol != "tcp") {
            throw bad_input(fmt::format("unknown protocol {}; use /tcp (the default) or /udp",
                                        quote(protocol)));
        }
        rest.resize(slash);
    }
    std::string host_ip;
    const auto last = rest.rfind(':');
    if (last == std::string::npos) {
        throw bad_input(fmt::format("{} names one port, not two; {}", quote(text), form));
    }
    const std::string guest_port = rest.substr(last + 1);
    std::string host_part = rest.substr(0, last);
    if (const auto first = host_part.rfind(':'); first != std::string::npos) {
        host_ip = host_part.substr(0, first);
        host_part = host_part.substr(first + 1);
        in_addr address{};
        if (::inet_pton(AF_INET, host_ip.c_str(), &address) != 1) {
            throw bad_input(
                fmt::format("host address {} is not an IPv4 address; {}", quote(host_ip), form));
        }
        forward.host_address = ntohl(address.s_addr);
    }
    forward.host_port = parse_port(host_part, "host port");
    forward.guest_port = parse_port(guest_port, "guest port");
    return forward;
}

std::string PortForward::text() const {
    return fmt::format("{}:{}:{}/{}", ipv4_text(host_address), host_port, guest_port,
                       protocol == Protocol::udp ? "udp" : "tcp");
}

}  // namespace berth::net
