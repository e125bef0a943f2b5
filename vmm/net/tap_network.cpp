#include "vmm/net/tap_network.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth::net {

namespace {

// 52:54:0a:58:XX:YY for 10.88.XX.YY: locally administered (the 0x02 bit of the first
// byte), unicast, and as unique on the bridge as the address lease is.
EthernetAddress mac_for(std::uint32_t address) {
    return {0x52,
            0x54,
            static_cast<std::uint8_t>(address >> 24),
            static_cast<std::uint8_t>(address >> 16),
            static_cast<std::uint8_t>(address >> 8),
            static_cast<std::uint8_t>(address)};
}

// Larger than any frame the NIC model accepts (it offers no segmentation offload).
constexpr std::size_t max_frame = 65536;
// DHCP replies are a handful per boot; a guest that floods requests loses the rest.
constexpr std::size_t max_replies = 16;

}  // namespace

TapNetwork::TapNetwork(const std::string& tap_name) : lease_(IpLease::acquire(std::nullopt)) {
    dhcp_.address = lease_.cidr();
    dhcp_.client = mac_for(dhcp_.address.address);
    dhcp_.router = bridge_gateway;
    dhcp_.server = bridge_gateway;
    tap_ = TapDevice::create(tap_name);
    try {
        plug_into_bridge(tap_.name());
    } catch (const Error& e) {
        throw e.with_context(fmt::format("cannot plug tap {} into {}", tap_.name(), bridge_name));
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

void TapNetwork::send(std::span<const std::uint8_t> frame) {
    if (auto reply = answer_dhcp(frame, dhcp_)) {
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
    (void)::write(tap_.fd(), frame.data(), frame.size());
}

void TapNetwork::loop() {
    std::vector<std::uint8_t> buffer(max_frame);
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
            receive_(reply);
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
            const ssize_t got = ::read(tap_.fd(), buffer.data(), buffer.size());
            if (got <= 0) {
                break;
            }
            receive_(std::span(buffer.data(), static_cast<std::size_t>(got)));
        }
    }
}

}  // namespace berth::net
