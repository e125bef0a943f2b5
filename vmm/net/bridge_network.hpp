#pragma once
// `--net bridge`: the host bridge berth0 (10.88.0.1/16, created on first use and kept,
// like docker0), an address lease so concurrent containers and VMs never share an
// address, a VM's tap as a port of it (plug_into_bridge), and a veth pair whose container end is
// born inside the container's network namespace as eth0. The host end, and with it the pair, is
// deleted on destruction.

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "vmm/common/unique_fd.hpp"
#include "vmm/net/ipv4.hpp"

namespace berth::net {

inline constexpr const char* bridge_name = "berth0";
// Docker's default bridge is 172.17/16; ours sits in 10.88/16 like podman's.
inline constexpr std::uint32_t bridge_network = 0x0a580000;  // 10.88.0.0
inline constexpr int bridge_prefix = 16;
inline constexpr std::uint32_t bridge_gateway = 0x0a580001;  // 10.88.0.1
inline constexpr const char* container_interface = "eth0";

// A bridge a VM's tap can join and the IPv4 network behind it: `gateway` is the
// bridge's own address on the host, with the network's prefix (10.88.0.1/16 for berth0).
struct BridgeSubnet {
    std::string name;
    Ipv4Cidr gateway;

    // A host address of the network: not the network's or broadcast address, not the
    // gateway's.
    bool is_host_address(const Ipv4Cidr& address) const;
};

// berth0: made on first use, 10.88.0.1/16.
BridgeSubnet default_bridge();
// An existing bridge `name` and the first IPv4 address on it; bad input (naming
// `flag`, e.g. "--net bridge=br1") when there is no such link, it is not a bridge or it
// has no IPv4 address. `berth0` is default_bridge(), which need not exist yet.
BridgeSubnet find_bridge(const std::string& name, std::string_view flag);

// An address on a bridge's network held by a lock on /run/berth/net/<address> for as
// long as this object lives (a crashed berth's lock goes away with it). The lock files
// are shared by every bridge: two networks holding the same address is a clash anyway.
class IpLease {
public:
    // `wanted` unset: the first free address, starting from one derived from our pid.
    // A wanted address that is taken is bad input.
    static IpLease acquire(const std::optional<Ipv4Cidr>& wanted);
    // The same on `subnet`; `wanted` must be one of its host addresses (the caller
    // checks it).
    static IpLease acquire(const BridgeSubnet& subnet, const std::optional<Ipv4Cidr>& wanted);

    IpLease() = default;
    IpLease(IpLease&&) noexcept = default;
    IpLease& operator=(IpLease&&) noexcept = default;
    ~IpLease();

    const Ipv4Cidr& cidr() const { return cidr_; }

private:
    Ipv4Cidr cidr_;
    std::string path_;
    UniqueFd lock_;
};

class BridgePort {
public:
    // Makes sure berth0 exists and is up, then creates the veth pair for the container
    // whose init is `container_pid` (which names the host end), its eth0 end directly in
    // the network namespace open as `netns_fd`.
    static BridgePort attach(pid_t container_pid, int netns_fd);

    BridgePort() = default;
    BridgePort(BridgePort&& other) noexcept;
    BridgePort& operator=(BridgePort&& other) noexcept;
    ~BridgePort();

    const std::string& host_interface() const { return host_name_; }

private:
    std::string host_name_;
};

// Makes `interface` (a VM's tap) a port of `bridge`, up; berth0 is made first if it does
// not exist yet (another bridge must, see find_bridge).
void plug_into_bridge(const std::string& interface, const BridgeSubnet& bridge);

// In the caller's (the container's) network namespace: lo up.
void set_loopback_up();
// In the container's network namespace, for the bridge: eth0 up with `address` and a
// default route through the bridge.
void configure_bridge_interface(const Ipv4Cidr& address);

}  // namespace berth::net
