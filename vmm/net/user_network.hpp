#pragma once
// User-mode networking: a NAT router in berth's own process (libslirp), as QEMU's
// `-netdev user`. The guest's Ethernet frames go in; slirp answers ARP, DHCP (the guest
// gets 10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3, QEMU's numbers) and DNS, and turns
// TCP and UDP into ordinary sockets of this process, so no root and no host setup are
// needed. 10.0.2.2 is the host itself (its 127.0.0.1). Published ports listen on the
// host and connect into the guest at 10.0.2.15.
//
// libslirp is loaded with dlopen when a user-mode network is made, not linked: berth's
// start-up loads only the libraries docs/benchmarks.md promises, and libslirp brings
// glib (Debian ships neither as a static archive).
//
// libslirp is not thread-safe, so every call into it runs on one thread of ours, the
// poll loop: frames from the guest (send(), any thread) wait in a bounded list and wake
// it; frames for the guest leave through the receive function, on that thread.

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "vmm/common/event_fd.hpp"
#include "vmm/common/thread.hpp"
#include "vmm/net/port_forward.hpp"

namespace berth::net {

struct UserNetworkConfig {
    std::vector<PortForward> forwards;
};

class UserNetwork {
public:
    using Receive = std::function<void(std::span<const std::uint8_t> frame)>;
    // Frames from the guest waiting for the poll loop; more are dropped.
    static constexpr std::size_t outgoing_limit = 256;

    // Loads libslirp, makes the stack and listens on every published port: an Error
    // (bad input) when libslirp is missing or a port cannot be had.
    explicit UserNetwork(const UserNetworkConfig& config);
    ~UserNetwork();
    UserNetwork(const UserNetwork&) = delete;
    UserNetwork& operator=(const UserNetwork&) = delete;

    // Starts the poll loop; frames for the guest go to `receive`, from its thread.
    void start(Receive receive);
    // A frame from the guest (any thread).
    void send(std::span<const std::uint8_t> frame);

    struct Stack;  // libslirp's state and callbacks (user_network.cpp)

private:
    void loop();

    std::unique_ptr<Stack> slirp_;
    Receive receive_;
    EventFd wake_;
    std::mutex mutex_;  // outgoing_ and stopping_
    std::deque<std::vector<std::uint8_t>> outgoing_;
    bool stopping_ = false;
    Thread thread_;
};

// Loads libslirp now (an Error naming the package when it cannot): a VMM that will run
// in a jail (`vm run --jail`), where the library is not to be found, loads it first.
void load_user_network_library();

}  // namespace berth::net
