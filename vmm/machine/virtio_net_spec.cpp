// --net user|bridge[=NAME][,ip=CIDR][,vhost=on|off]|none: a virtio-net NIC and the host side it is
// plugged into. `user` is NAT in berth's own process (libslirp,
// vmm/net/user_network.hpp); `bridge` a tap on berth0, the containers' bridge, or on the
// existing bridge NAME (vmm/net/tap_network.hpp), whose frames with vhost=on the host kernel
// moves (devices/virtio/vhost_net.hpp); `none`, the default, adds no device at
// all. Each --net is one NIC, in order (eth0, eth1, ...). --publish adds port forwards to
// the first user-mode NIC (add_port_forwards), --ip pins the first bridge NIC's address
// (add_bridge_address).

#include <linux/if_tun.h>
#include <unistd.h>

#include <mutex>
#include <optional>

#include <fmt/format.h>

#include "devices/virtio/net.hpp"
#include "devices/virtio/vhost_net.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/machine/virtio_device_spec.hpp"
#include "vmm/net/bridge_network.hpp"
#include "vmm/net/interface_dhcp.hpp"
#include "vmm/net/ipv4.hpp"
#include "vmm/net/tap_network.hpp"
#include "vmm/net/user_network.hpp"

namespace berth::machine {

namespace {

// A locally administered unicast address (the 0x02 bit of the first byte), one per NIC.
devices::virtio::MacAddress nic_mac(unsigned index) {
    return {0x52, 0x54, 0x00, 0xbe, 0x27, static_cast<std::uint8_t>(index)};
}

// The virtio-net model's view of the user-mode network.
class UserBackend final : public devices::virtio::PacketBackend {
public:
    explicit UserBackend(const net::UserNetworkConfig& config) : network_(config) {}
    void start(Receive receive) override {
        // On the NIC's worker: into the guest's buffers, or copied to wait for them.
        network_.start(std::move(receive));
    }
    void send(std::span<const std::uint8_t> frame) override { network_.send(frame); }
    // libslirp runs on the NIC's worker, whose seccomp list then is net-user's (sockets).
    void add_waits(std::vector<pollfd>& fds, int& timeout_ms) override {
        network_.add_waits(fds, timeout_ms);
    }
    void waited(std::span<const pollfd> fds) override { network_.waited(fds); }
    std::string_view worker_kind() const override { return "net-user"; }

private:
    net::UserNetwork network_;
};

// A tap's TUN_F_* offloads as virtio-net features: each one both ways.
std::uint64_t tap_offload_features(unsigned tap) {
    using namespace devices::virtio;
    std::uint64_t features = 0;
    if ((tap & TUN_F_CSUM) != 0) {
        features |= net_feature_csum | net_feature_guest_csum;
        if ((tap & TUN_F_TSO4) != 0) {
            features |= net_feature_host_tso4 | net_feature_guest_tso4;
        }
        if ((tap & TUN_F_TSO6) != 0) {
            features |= net_feature_host_tso6 | net_feature_guest_tso6;
        }
    }
    return features;
}

// What the driver takes, as the TUN_F_* flags the tap may hand it: segments need its
// checksum offload too. Should the kernel refuse them now (the probe at creation took
// them), it keeps the ones before, and the NIC model still clears what the driver did
// not accept from each received header.
void enable_tap_offloads(net::TapNetwork& network, std::uint64_t features) {
    using namespace devices::virtio;
    unsigned flags = 0;
    if ((features & net_feature_guest_csum) != 0) {
        flags |= TUN_F_CSUM;
        flags |= (features & net_feature_guest_tso4) != 0 ? TUN_F_TSO4 : 0;
        flags |= (features & net_feature_guest_tso6) != 0 ? TUN_F_TSO6 : 0;
    }
    try {
        network.enable_offloads(flags);
    } catch (const Error&) {
    }
}

// The virtio-net model's view of a tap on a bridge.
class TapBackend final : public devices::virtio::PacketBackend {
public:
    TapBackend(const std::string& tap_name, const net::BridgeSubnet& bridge,
               const std::optional<net::Ipv4Cidr>& address)
        : network_(tap_name, bridge, address) {}
    void start(Receive receive) override {
        // Only DHCP replies come this way; the tap's frames are read by the NIC itself.
        network_.start(std::move(receive));
    }
    void send(std::span<const std::uint8_t> frame) override { network_.send(frame); }
    void send_pieces(std::span<const iovec> pieces) override { network_.send_pieces(pieces); }
    int frame_fd() const override { return network_.fd(); }
    long read_frame(std::span<const iovec> into) override { return network_.read_frame(into); }
    const net::TapNetwork& network() const { return network_; }

    // The tap always has a vnet header (tap_device.hpp), even should the kernel take
    // no offload.
    bool framed_with_header() const override { return true; }
    std::uint64_t offloads() const override { return tap_offload_features(network_.offloads()); }
    void enable_offloads(std::uint64_t features) override {
        enable_tap_offloads(network_, features);
    }

private:
    net::TapNetwork network_;
};

// A tap on a bridge that the kernel's vhost-net serves (vhost=on): berth reads and
// writes no frame, and answers the guest's DHCP from a packet socket on the tap.
class VhostTapBackend final : public devices::virtio::VhostTap {
public:
    VhostTapBackend(const std::string& tap_name, const net::BridgeSubnet& bridge,
                    const std::optional<net::Ipv4Cidr>& address)
        : network_(tap_name, bridge, address),
          dhcp_(network_.tap().name(), network_.dhcp_offer()) {}
    int fd() const override { return network_.tap().fd(); }
    std::uint64_t offloads() const override { return tap_offload_features(network_.offloads()); }
    void enable_offloads(std::uint64_t features) override {
        enable_tap_offloads(network_, features);
    }
    const net::TapNetwork& network() const { return network_; }

private:
    net::TapNetwork network_;
    net::InterfaceDhcpServer dhcp_;
};

struct BridgeNicOptions {
    std::string bridge = net::bridge_name;
    std::optional<net::Ipv4Cidr> address;  // ip=CIDR or --ip; unset: a free one
    bool vhost = false;                    // vhost=on: the kernel's data plane
    std::string flag;                      // how the user spelled it, for errors
};

class BridgeNetSpec final : public VirtioDeviceSpec {
public:
    explicit BridgeNetSpec(BridgeNicOptions options) : options_(std::move(options)) {}

    std::string_view kind() const override { return "nic"; }
    std::shared_ptr<devices::virtio::Device> open(unsigned index) const override {
        try {
            // The bridge and its network are looked up now, not when the flag is parsed:
            // berth0 may appear meanwhile, and a reboot looks again.
            // /dev/vhost-net first: without it, no tap or lease is made only to be undone.
            UniqueFd vhost;
            if (options_.vhost) {
                vhost = devices::virtio::VhostNet::open_device();
            }
            const net::BridgeSubnet bridge = net::find_bridge(options_.bridge, options_.flag);
            if (options_.address && !bridge.is_host_address(*options_.address)) {
                const net::Ipv4Cidr network{bridge.gateway.address & bridge.gateway.netmask(),
                                            bridge.gateway.prefix};
                throw bad_input(fmt::format(
                    "--ip {} is not a host address in {}'s network {}; give one with the same "
                    "prefix, other than the network, broadcast and bridge ({}) addresses",
                    options_.address->text(), bridge.name, network.text(),
                    bridge.gateway.address_text()));
            }
            // Named after berth's pid, as the containers' veths are (bv<pid>).
            const std::string tap_name = fmt::format("bt{}n{}", ::getpid(), index);
            if (options_.vhost) {
                auto backend =
                    std::make_unique<VhostTapBackend>(tap_name, bridge, options_.address);
                const auto mac = backend->network().guest_mac();
                const std::string name =
                    fmt::format("virtio-net {} (bridge {}, {}, vhost)", index, bridge.name,
                                backend->network().guest_address().text());
                return std::make_shared<devices::virtio::VhostNet>(std::move(vhost),
                                                                   std::move(backend), mac, name);
            }
            auto backend = std::make_unique<TapBackend>(tap_name, bridge, options_.address);
            const auto mac = backend->network().guest_mac();
            const std::string name =
                fmt::format("virtio-net {} (bridge {}, {})", index, bridge.name,
                            backend->network().guest_address().text());
            {
                const std::lock_guard lock(leased_mutex_);
                leased_ = backend->network().guest_address();
            }
            return std::make_shared<devices::virtio::Net>(std::move(backend), mac, name);
        } catch (const Error& e) {
            throw e.with_context(fmt::format("nic {} (bridge {})", index, options_.bridge));
        }
    }
    const BridgeNicOptions& options() const { return options_; }

    // A restore makes a new tap on the same bridge and leases the same address again
    // (the guest keeps the one it has, and its MAC follows from it): ip= pins it. While
    // the snapshotted VM or another restore of it runs, the address is taken and the
    // restore is refused (two guests with one MAC and address on a bridge cannot work).
    SnapshotRecord snapshot_record() const override {
        if (options_.vhost) {
            // The kernel's vhost worker holds the rings' positions, not berth.
            throw bad_input(fmt::format(
                "{}: a NIC with vhost=on cannot be snapshotted yet (the kernel serves its "
                "queues); take snapshots of VMs with bridge NICs without vhost=on",
                options_.flag));
        }
        const std::lock_guard lock(leased_mutex_);
        if (!leased_) {
            throw Error(fmt::format("{}: the NIC is not open", options_.flag));
        }
        return {fmt::format("bridge={},ip={}", options_.bridge, leased_->text()), {}};
    }

private:
    BridgeNicOptions options_;
    // The address the last open() leased (a reboot opens again): what a snapshot keeps.
    mutable std::mutex leased_mutex_;
    mutable std::optional<net::Ipv4Cidr> leased_;
};

class UserNetSpec final : public VirtioDeviceSpec {
public:
    explicit UserNetSpec(net::UserNetworkConfig config) : config_(std::move(config)) {}

    std::string_view kind() const override { return "nic"; }
    std::shared_ptr<devices::virtio::Device> open(unsigned index) const override {
        try {
            return std::make_shared<devices::virtio::Net>(
                std::make_unique<UserBackend>(config_), nic_mac(index),
                fmt::format("virtio-net {} (user)", index));
        } catch (const Error& e) {
            throw e.with_context(fmt::format("nic {} (user)", index));
        }
    }
    // A restore starts a new user-mode network: the guest keeps 10.0.2.15, its TCP
    // connections through the old one are gone (as with Firecracker's snapshots).
    SnapshotRecord snapshot_record() const override {
        if (!config_.forwards.empty()) {
            throw bad_input(
                "a user-mode NIC with --publish cannot be snapshotted yet (a restore takes "
                "no flags to publish them again); take snapshots of VMs without --publish");
        }
        return {"user", {}};
    }
    const net::UserNetworkConfig& config() const { return config_; }

private:
    net::UserNetworkConfig config_;
};

// bridge[=NAME][,ip=CIDR]
std::shared_ptr<const VirtioDeviceSpec> parse_bridge(const std::string& value) {
    BridgeNicOptions options;
    options.flag = "--net " + value;
    std::string_view rest(value);
    bool first = true;
    while (!rest.empty() || first) {
        const auto comma = rest.find(',');
        const std::string_view part = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        if (first) {
            first = false;
            if (part.starts_with("bridge=")) {
                options.bridge = std::string(part.substr(7));
                if (options.bridge.empty()) {
                    throw bad_input("the bridge's name is empty; give bridge=NAME or bridge");
                }
            }
        } else if (part.starts_with("ip=")) {
            options.address = net::parse_cidr(part.substr(3), "ip=");
        } else if (part == "vhost=on" || part == "vhost=off") {
            options.vhost = part == "vhost=on";
        } else if (part.starts_with("vhost=")) {
            throw bad_input(
                fmt::format("{} is neither vhost=on nor vhost=off; give vhost=on for the kernel's "
                            "vhost-net or leave it out",
                            quote(part)));
        } else {
            throw bad_input(fmt::format(
                "unknown option {}; bridge takes =NAME, ip=CIDR and vhost=on|off", quote(part)));
        }
    }
    return std::make_shared<BridgeNetSpec>(std::move(options));
}

std::shared_ptr<const VirtioDeviceSpec> parse_net_flag(const std::string& value) {
    if (value == "user") {
        return std::make_shared<UserNetSpec>(net::UserNetworkConfig{});
    }
    if (value == "bridge" || value.starts_with("bridge=") || value.starts_with("bridge,")) {
        return parse_bridge(value);
    }
    if (value == "none") {
        return nullptr;
    }
    // vhost-net serves a tap; user mode's frames are libslirp's, in berth itself.
    for (const std::string_view backend : {"user,", "none,"}) {
        if (value.starts_with(backend)) {
            const std::string_view name = backend.substr(0, backend.size() - 1);
            if (value.find("vhost=") != std::string::npos) {
                throw bad_input(fmt::format(
                    "vhost= needs a tap backend; --net {} has no tap: use --net bridge,vhost=on "
                    "(root, a tap on berth0) or drop vhost=",
                    name));
            }
            throw bad_input(fmt::format("{} takes no options; give --net {}", name, name));
        }
    }
    throw bad_input(fmt::format(
        "unknown network backend {}; use user (NAT through the host, no root needed), "
        "bridge[=NAME] (a tap on berth0, the containers' bridge, or on bridge NAME; needs "
        "root) or none",
        quote(value)));
}

}  // namespace

bool add_port_forwards(VirtioDeviceSpecs& devices, const std::vector<net::PortForward>& forwards) {
    for (auto& device : devices) {
        if (const auto* user = dynamic_cast<const UserNetSpec*>(device.get())) {
            net::UserNetworkConfig config = user->config();
            config.forwards.insert(config.forwards.end(), forwards.begin(), forwards.end());
            device = std::make_shared<UserNetSpec>(std::move(config));
            return true;
        }
    }
    return forwards.empty();
}

bool add_bridge_address(VirtioDeviceSpecs& devices, const net::Ipv4Cidr& address) {
    for (auto& device : devices) {
        if (const auto* bridge = dynamic_cast<const BridgeNetSpec*>(device.get())) {
            BridgeNicOptions options = bridge->options();
            if (options.address) {
                throw bad_input(fmt::format("--ip {}: {} gives the address already", address.text(),
                                            options.flag));
            }
            options.address = address;
            device = std::make_shared<BridgeNetSpec>(std::move(options));
            return true;
        }
    }
    return false;
}

VirtioDeviceFlag virtio_net_flag() {
    return {"--net",
            "Network for the guest: user (a virtio-net NIC with NAT through the host: DHCP "
            "gives the guest 10.0.2.15, the host is 10.0.2.2; no root needed), bridge (a tap "
            "on berth0, the bridge of `berth ct run --net bridge`: berth's DHCP gives the guest "
            "an address in 10.88.0.0/16 beside the containers, the host is 10.88.0.1; needs "
            "root; bridge=NAME: an existing bridge with an IPv4 address, whose network berth's "
            "DHCP serves; ip=CIDR pins the address; vhost=on moves the frames in the host "
            "kernel (vhost-net, /dev/vhost-net)) or none (no NIC, the default); repeatable, "
            "one NIC each (eth0, eth1, ...)",
            "user|bridge[=NAME][,ip=CIDR][,vhost=on]|none", parse_net_flag};
}

}  // namespace berth::machine
