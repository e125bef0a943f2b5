#include "vmm/net/tap_network.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
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

// A vnet header and the largest frame a tap hands over (a 64 KiB segment, Ethernet).
constexpr std::size_t max_packet = TapDevice::vnet_header_size + 65536 + 18;
// DHCP replies are a handful per boot; a guest that floods requests loses the rest.
constexpr std::size_t max_replies = 16;

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

TapNetwork::~TapNetwork() {
    if (thread_.joinable()) {
        {
            const std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.signal();
        thread_.join();
    }
}

void TapNetwork::start(Receive receive) {
    receive_ = std::move(receive);
    thread_ = Thread("net-tap", [this] { loop(); });
}

void TapNetwork::send(std::span<const std::uint8_t> packet) {
    constexpr std::size_t header = TapDevice::vnet_header_size;
    if (packet.size() < header) {
        return;
    }
    if (auto reply = answer_dhcp(packet.subspan(header), dhcp_)) {
        // Our reply, checksummed, behind an all-zero header (nothing to offload).
        reply->insert(reply->begin(), header, 0);
        {
            const std::lock_guard lock(mutex_);
            if (replies_.size() >= max_replies) {
                return;
            }
            replies_.push_back(std::move(*reply));
        }
        wake_.signal();
        return;
    }
    // EAGAIN: the tap's queue is full; the frame is dropped, and TCP sends it again.
    // EINVAL: a header the kernel refuses (a hostile guest's); the frame is dropped.
    (void)::write(tap_.fd(), packet.data(), packet.size());
}

void TapNetwork::loop() {
    // Large frames are handed over in the buffer they were read into, and a fresh one
    // is taken for the next read; small ones (ACKs, ARP) are copied into one their size.
    constexpr std::size_t copy_below = 2048;
    auto buffer = std::make_unique_for_overwrite<std::uint8_t[]>(max_packet);
    const auto hand_over = [&](std::size_t size) {
        if (size < copy_below) {
            auto copy = std::make_unique_for_overwrite<std::uint8_t[]>(size);
            std::copy_n(buffer.get(), size, copy.get());
            receive_(std::move(copy), size);
        } else {
            receive_(
                std::exchange(buffer, std::make_unique_for_overwrite<std::uint8_t[]>(max_packet)),
                size);
        }
    };
    std::deque<std::vector<std::uint8_t>> replies;
    for (;;) {
        {
            const std::lock_guard lock(mutex_);
            if (stopping_) {
                return;
            }
            replies.swap(replies_);
        }
        for (const auto& reply : replies) {
            auto copy = std::make_unique_for_overwrite<std::uint8_t[]>(reply.size());
            std::copy(reply.begin(), reply.end(), copy.get());
            receive_(std::move(copy), reply.size());
        }
        replies.clear();
        pollfd fds[2] = {{tap_.fd(), POLLIN, 0}, {wake_.fd(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;  // cannot happen with valid arguments; the guest's network goes quiet
        }
        if ((fds[1].revents & POLLIN) != 0) {
            wake_.consume();
        }
        // A burst at a time, so that the wake-up and stop checks still come round.
        for (int i = 0; i < 64 && (fds[0].revents & POLLIN) != 0; ++i) {
            const ssize_t got = ::read(tap_.fd(), buffer.get(), max_packet);
            if (got <= 0) {
                break;
            }
            hand_over(static_cast<std::size_t>(got));
        }
    }
}

}  // namespace berth::net
