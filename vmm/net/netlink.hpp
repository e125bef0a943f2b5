#pragma once
// Just enough rtnetlink (through libmnl) to wire a container to a bridge: create a
// bridge and a veth pair, move one end into another network namespace, set links up,
// add addresses and a default route, delete links. Each request waits for the
// kernel's acknowledgement and throws an Error naming the operation on failure.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

struct mnl_socket;
struct nlmsghdr;

namespace berth::net {

enum class IfExists { fail, ok };

class Netlink {
public:
    // A socket in the caller's current network namespace.
    Netlink();
    ~Netlink();
    Netlink(const Netlink&) = delete;
    Netlink& operator=(const Netlink&) = delete;

    // Returns false when the bridge existed already.
    bool create_bridge(const std::string& name);
    // Creates `host_name` here and its peer named `peer_name` directly inside the
    // network namespace open as `peer_netns_fd`.
    void create_veth(const std::string& host_name, const std::string& peer_name, int peer_netns_fd);
    void set_master(const std::string& name, const std::string& master);
    void set_up(const std::string& name);
    void add_address(const std::string& name, std::uint32_t address, int prefix,
                     IfExists if_exists);
    void add_default_route(std::uint32_t gateway);
    // Returns false when there was no such link.
    bool delete_link(const std::string& name);

private:
    // Sends the message and waits for the ACK; returns 0 or the kernel's errno.
    int request(nlmsghdr* message);
    int index_of(const std::string& name) const;

    mnl_socket* socket_ = nullptr;
    unsigned port_ = 0;
    std::uint32_t sequence_ = 0;
    std::unique_ptr<char[]> buffer_;
};

}  // namespace berth::net
