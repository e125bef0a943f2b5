#include "vmm/net/tap_network.hpp"

#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth::net {

namespace {

// 52:54:0a:58:XX:YY for 10.88.XX.YY (52:54 and the address): locally administered (the 0x02 bit of
// the first byte), unicast, and as unique on the bridge as the address lease is.
EthernetAddress mac_for(std::uint32_t address) {
    return {0x52,
            0x54,
            static_cast<std::uint8_t>(address >> 24),
            static_cast<std::uint8_t>(address >> 16),
            static_cast<std::uint8_t>(address >> 8),
            static_cast<std::uint8_t>(address)};
}

// Frames up to this size are gathered and looked at (a DHCP request is a few hundred
// bytes); longer ones go to the tap straight from guest memory.
constexpr std::size_t inspect_below = 2048;

}  // namespace

TapNetwork::TapNetwork(const std::string& tap_name, const BridgeSubnet& bridge,
                       const std::optional<Ipv4Cidr>& wanted)
    : lease_(IpLease::acquire(bridge, wanted)) {
    dhcp_.address = lease_.cidr();
    dhcp_.client = mac_for(dhcp_.address.address);
    dhcp_.router = bridge.gateway.address;
    dhcp_.server = bridge.gateway.address;
    tap_ = TapDevice::create(tap_name);
    try {
        plug_into_bridge(tap_.name(), bridge);
    } catch (const Error& e) {
        throw e.with_context(fmt::format("cannot plug tap {} into {}", tap_.name(), bridge.name));
    }
}

TapNetwork::~TapNetwork() = default;

void TapNetwork::send(std::span<const std::uint8_t> packet) {
    constexpr std::size_t header = TapDevice::vnet_header_size;
    if (packet.size() < header) {
        return;
    }
    if (auto reply = answer_dhcp(packet.subspan(header), dhcp_)) {
        // Our reply, checksummed, behind an all-zero header (nothing to offload).
        reply->insert(reply->begin(), header, 0);
        if (receive_) {
            receive_(*reply);
        }
        return;
    }
    // EAGAIN: the tap's queue is full; the frame is dropped, and TCP sends it again.
    // EINVAL: a header the kernel refuses (a hostile guest's); the frame is dropped.
    (void)::write(tap_.fd(), packet.data(), packet.size());
}

void TapNetwork::send_pieces(std::span<const iovec> pieces) {
    std::size_t total = 0;
    for (const iovec& piece : pieces) {
        total += piece.iov_len;
    }
    if (total < inspect_below) {
        std::array<std::uint8_t, inspect_below> packet;
        std::size_t at = 0;
        for (const iovec& piece : pieces) {
            std::memcpy(packet.data() + at, piece.iov_base, piece.iov_len);
            at += piece.iov_len;
        }
        send(std::span(packet.data(), total));
        return;
    }
    // The kernel reads the frame from guest memory itself, vnet header included, and
    // checks that header as it does any other writer's (a guest that changes it after
    // the NIC looked at it only gets its frame refused). Errors as in send().
    (void)::writev(tap_.fd(), pieces.data(), static_cast<int>(pieces.size()));
}

long TapNetwork::read_frame(std::span<const iovec> into) {
    for (;;) {
        const ssize_t got = ::readv(tap_.fd(), into.data(), static_cast<int>(into.size()));
        if (got > 0) {
            return got;
        }
        if (got < 0 && errno == EINTR) {
            continue;
        }
        return got < 0 && errno != EAGAIN ? -1 : 0;
    }
}

}  // namespace berth::net
