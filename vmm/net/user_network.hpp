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
// libslirp is not thread-safe, and it has no thread here: whoever serves the NIC (the
// virtio-net worker) runs it, as QEMU's main loop does. Each round it asks for the
// descriptors and timeout to wait on (add_waits), waits with its own, and hands the
// results back (waited); the guest's frames go in through send() and the guest's come
// out through the receive function, all on that one thread. So a frame crosses no
// thread on its way either way, and the guest's frames are not copied into a queue.

#include <poll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "vmm/net/port_forward.hpp"

namespace berth::net {

struct UserNetworkConfig {
    std::vector<PortForward> forwards;
};

class UserNetwork {
public:
    using Receive = std::function<void(std::span<const std::uint8_t> frame)>;

    // Loads libslirp, makes the stack and listens on every published port: an Error
    // (bad input) when libslirp is missing or a port cannot be had.
    explicit UserNetwork(const UserNetworkConfig& config);
    ~UserNetwork();
    UserNetwork(const UserNetwork&) = delete;
    UserNetwork& operator=(const UserNetwork&) = delete;

    // Frames for the guest go to `receive`, on the thread that calls send() or waited().
    void start(Receive receive);
    // A frame from the guest. This and the two below: one thread only.
    void send(std::span<const std::uint8_t> frame);
    // Appends the host sockets slirp waits on to `fds` and shortens `timeout_ms` (-1:
    // none) to its next timer.
    void add_waits(std::vector<pollfd>& fds, int& timeout_ms);
    // After the wait: `fds` as add_waits left them, with their revents. Serves the
    // sockets and the timers that are due.
    void waited(std::span<const pollfd> fds);

    struct Stack;  // libslirp's state and callbacks (user_network.cpp)

private:
    std::unique_ptr<Stack> slirp_;
    Receive receive_;
};

// Loads libslirp now (an Error naming the package when it cannot): a VMM that will run
// in a jail (`vm run --jail`), where the library is not to be found, loads it first.
void load_user_network_library();

}  // namespace berth::net
