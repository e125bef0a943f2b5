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
// Threads: none of its own. Whoever serves the NIC (the virtio-net worker) reads the
// tap's frames straight into the guest's receive buffers (fd(), read_frame()) and writes
// the guest's to it from guest memory (send_pieces; non-blocking: a full tap queue drops
// the frame, as a NIC would). DHCP replies reach the guest through the receive
// function, on the thread that sent the request.

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vmm/net/bridge_network.hpp"
#include "vmm/net/dhcp_server.hpp"
#include "vmm/net/tap_device.hpp"

namespace berth::net {

class TapNetwork {
public:
    // A frame for the guest (a DHCP reply), behind an all-zero vnet header.
    using Receive = std::function<void(std::span<const std::uint8_t> frame)>;

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
    // kernel moves the frames and nothing here is called (interface_dhcp.hpp answers
    // the DHCP).
    const DhcpOffer& dhcp_offer() const { return dhcp_; }
    const TapDevice& tap() const { return tap_; }

    // Where DHCP replies go (see Threads above).
    void start(Receive receive) { receive_ = std::move(receive); }
    // A frame from the guest, behind its vnet header (one thread at a time).
    void send(std::span<const std::uint8_t> packet);
    // The same in pieces (of guest memory), written with one writev.
    void send_pieces(std::span<const iovec> pieces);
    // Readable when the tap has a frame for the guest.
    int fd() const { return tap_.fd(); }
    // Reads one frame with its vnet header into `into`, which must hold the longest one
    // (a shorter frame leaves the rest alone). Returns its size; 0 when none waits; -1
    // when the kernel dropped one instead (it takes a frame off the queue even when it
    // cannot write it out).
    long read_frame(std::span<const iovec> into);
    // The offloads the tap can carry (TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6).
    unsigned offloads() const { return tap_.offloads(); }
    // The ones the guest takes (TUN_F_* bits): the tap may hand it such frames.
    void enable_offloads(unsigned flags) { tap_.set_offloads(flags); }

private:
    IpLease lease_;
    DhcpOffer dhcp_;
    TapDevice tap_;
    Receive receive_;
};

}  // namespace berth::net
