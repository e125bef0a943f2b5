#pragma once
// `--net bridge[=NAME]` for a VM: the guest's NIC is a tap that is a port of a bridge,
// by default berth0, the one `berth ct run --net bridge` plugs containers into, so VMs and
// containers reach each other. The guest's address comes from the same pool as the
// containers' (IpLease; on another bridge, from that bridge's network) or is pinned
// (--ip), and berth hands it to the guest by DHCP itself (dhcp_server.hpp): the guest's
// DHCP frames are answered here and never reach the bridge.
//
// Frames both ways start with the tap's 12-byte vnet header (tap_device.hpp), which the
// guest's NIC passes through: checksum and segmentation offloads cost nothing here.
//
// Threads: frames from the tap (and DHCP replies) reach the guest through the receive
// function, on this network's own thread; the guest's frames are written to the tap on
// the caller's thread (non-blocking: a full tap queue drops the frame, as a NIC would).

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vmm/common/event_fd.hpp"
#include "vmm/common/thread.hpp"
#include "vmm/net/bridge_network.hpp"
#include "vmm/net/dhcp_server.hpp"
#include "vmm/net/tap_device.hpp"

namespace berth::net {

class TapNetwork {
public:
    // A frame for the guest, in a buffer of its own that the callee keeps.
    using Receive = std::function<void(std::unique_ptr<std::uint8_t[]> bytes, std::size_t size)>;

    // Leases an address (`wanted`, a host address of `bridge`'s network, or a free one),
    // creates tap `tap_name` and plugs it into `bridge`. The guest's MAC is derived from
    // its address, so that two VMs on the bridge never share one.
    TapNetwork(const std::string& tap_name, const BridgeSubnet& bridge,
               const std::optional<Ipv4Cidr>& wanted);
    ~TapNetwork();
    TapNetwork(const TapNetwork&) = delete;
    TapNetwork& operator=(const TapNetwork&) = delete;

    const EthernetAddress& guest_mac() const { return dhcp_.client; }
    const Ipv4Cidr& guest_address() const { return dhcp_.address; }
    // What the guest's DHCP is answered with, and the tap: for vhost=on, where the
    // kernel moves the frames and this network's thread is never started
    // (interface_dhcp.hpp answers the DHCP).
    const DhcpOffer& dhcp_offer() const { return dhcp_; }
    const TapDevice& tap() const { return tap_; }

    // Starts the reader thread; frames for the guest go to `receive`, from it.
    void start(Receive receive);
    // A frame from the guest, behind its vnet header (any one thread at a time).
    void send(std::span<const std::uint8_t> packet);
    // The offloads the tap can carry (TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6).
    unsigned offloads() const { return tap_.offloads(); }
    // The ones the guest takes (TUN_F_* bits): the tap may hand it such frames.
    void enable_offloads(unsigned flags) { tap_.set_offloads(flags); }

private:
    void loop();

    IpLease lease_;
    DhcpOffer dhcp_;
    TapDevice tap_;
    Receive receive_;
    EventFd wake_;
    std::mutex mutex_;
    std::deque<std::vector<std::uint8_t>> replies_;  // DHCP answers waiting for the thread
    bool stopping_ = false;
    Thread thread_;
};

}  // namespace berth::net
