#pragma once
// The DHCP server of one VM's NIC on berth0 (`--net bridge`): berth answers its own
// guest's DHCPDISCOVER and DHCPREQUEST (RFC 2131) with the address it leased for it
// from the pool the containers draw from (IpLease), so that a guest configures itself as
// on any network and no other daemon runs on the host. The guest's DHCP frames never
// reach the bridge: the tap backend hands them here and the reply back to the guest.
//
// One client, one address: a frame from another MAC, any other message type (RELEASE,
// DECLINE, INFORM) or a REQUEST naming another server is not for us (no answer); a
// REQUEST for another address gets a NAK, so the client starts over with DISCOVER.
// Frames are bytes a hostile guest controls: every length is checked before it is read.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "vmm/net/ipv4.hpp"

namespace berth::net {

using EthernetAddress = std::array<std::uint8_t, 6>;

struct DhcpOffer {
    EthernetAddress client{};  // the guest NIC's MAC
    Ipv4Cidr address;          // the address and prefix it gets
    std::uint32_t router = 0;  // its default route (berth0's address)
    std::uint32_t server = 0;  // our identifier: the router's address too
    std::uint32_t lease_seconds = 86400;
};

// The reply frame (Ethernet, IPv4, UDP 67 -> 68) to `frame` from the guest, or nothing
// when `frame` is not a DHCP message for this server (see above).
std::optional<std::vector<std::uint8_t>> answer_dhcp(std::span<const std::uint8_t> frame,
                                                     const DhcpOffer& offer);

}  // namespace berth::net
