// --net user|bridge|none: a virtio-net NIC and the host side it is plugged into. `user`
// is NAT in berth's own process (libslirp, vmm/net/user_network.hpp); `bridge` a tap on
// berth0, the containers' bridge (vmm/net/tap_network.hpp); `none`, the default, adds no
// device at all. --publish adds port forwards to the first user-mode
// NIC (add_port_forwards).

#include <unistd.h>

#include <fmt/format.h>

#include "devices/virtio/net.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/machine/virtio_device_spec.hpp"
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
    void start(Receive receive) override { network_.start(std::move(receive)); }
    void send(std::span<const std::uint8_t> frame) override { network_.send(frame); }

private:
    net::UserNetwork network_;
};

// The virtio-net model's view of a tap on berth0.
class TapBackend final : public devices::virtio::PacketBackend {
public:
    explicit TapBackend(const std::string& tap_name) : network_(tap_name) {}
    void start(Receive receive) override { network_.start(std::move(receive)); }
    void send(std::span<const std::uint8_t> frame) override { network_.send(frame); }
    const net::TapNetwork& network() const { return network_; }

private:
    net::TapNetwork network_;
};

// A NIC's host side (a tap, libslirp's connections) is not the guest's to save.
Error not_snapshot_able() {
    return bad_input(
        "virtio-net cannot be snapshotted yet (its host side is outside the guest); take "
        "snapshots of VMs without --net");
}

class BridgeNetSpec final : public VirtioDeviceSpec {
public:
    std::string_view kind() const override { return "nic"; }
    std::shared_ptr<devices::virtio::Device> open(unsigned index) const override {
        try {
            // Named after berth's pid, as the containers' veths are (bv<pid>).
            auto backend = std::make_unique<TapBackend>(fmt::format("bt{}n{}", ::getpid(), index));
            const auto mac = backend->network().guest_mac();
            const std::string name = fmt::format("virtio-net {} (bridge, {})", index,
                                                 backend->network().guest_address().text());
            return std::make_shared<devices::virtio::Net>(std::move(backend), mac, name);
        } catch (const Error& e) {
            throw e.with_context(fmt::format("nic {} (bridge)", index));
        }
    }
    SnapshotRecord snapshot_record() const override { throw not_snapshot_able(); }
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
    SnapshotRecord snapshot_record() const override { throw not_snapshot_able(); }
    const net::UserNetworkConfig& config() const { return config_; }

private:
    net::UserNetworkConfig config_;
};

std::shared_ptr<const VirtioDeviceSpec> parse_net_flag(const std::string& value) {
    if (value == "user") {
        return std::make_shared<UserNetSpec>(net::UserNetworkConfig{});
    }
    if (value == "bridge") {
        return std::make_shared<BridgeNetSpec>();
    }
    if (value == "none") {
        return nullptr;
    }
    throw bad_input(fmt::format(
        "unknown network backend {}; use user (NAT through the host, no root needed), bridge "
        "(a tap on berth0, the containers' bridge; needs root) or none",
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

VirtioDeviceFlag virtio_net_flag() {
    return {"--net",
            "Network for the guest: user (a virtio-net NIC with NAT through the host: DHCP "
            "gives the guest 10.0.2.15, the host is 10.0.2.2; no root needed), bridge (a tap "
            "on berth0, the bridge of `berth ct run --net bridge`: berth's DHCP gives the guest "
            "an address in 10.88.0.0/16 beside the containers, the host is 10.88.0.1; needs "
            "root) or none (no NIC, the default); repeatable",
            "user|bridge|none", parse_net_flag};
}

}  // namespace berth::machine
