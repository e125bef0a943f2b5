#pragma once
// `--net bridge` for a VM: the guest's NIC is a tap that is a port of berth0, the bridge
// `berth ct run --net bridge` plugs containers into, so VMs and containers reach each
// other. The guest's address comes from the same pool as the containers' (IpLease) and
// berth hands it to the guest by DHCP itself (dhcp_server.hpp): the guest's DHCP frames
// are answered here and never reach the bridge.
//
// Threads: frames from the tap (and DHCP replies) reach the guest through the receive
// function, on this network's own thread; the guest's frames are written to the tap on
// the caller's thread (non-blocking: a full tap queue drops the frame, as a NIC would).

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
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
    using Receive = std::function<void(std::span<const std::uint8_t> frame)>;

    // Leases an address, creates tap `tap_name` and plugs it into berth0. The guest's
    // MAC is derived from its address, so that two VMs on the bridge never share one.
    explicit TapNetwork(const std::string& tap_name);
    ~TapNetwork();
    TapNetwork(const TapNetwork&) = delete;
    TapNetwork& operator=(const TapNetwork&) = delete;

    const EthernetAddress& guest_mac() const { return dhcp_.client; }
    const Ipv4Cidr& guest_address() const { return dhcp_.address; }

    // Starts the reader thread; frames for the guest go to `receive`, from it.
    void start(Receive receive);
    // A frame from the guest (any one thread at a time).
    void send(std::span<const std::uint8_t> frame);

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
