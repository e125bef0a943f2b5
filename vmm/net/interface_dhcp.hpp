#pragma once
// berth's DHCP server for a guest whose frames bypass berth (`--net bridge,vhost=on`:
// the kernel's vhost-net moves them between the guest and the tap). A packet socket on
// the tap, bound to every protocol, sees the guest's frames as they enter the host,
// before the bridge takes them (a socket bound to IPv4 alone would see none: the
// bridge's port hook runs first); a kernel filter keeps only IPv4 UDP to port 67, so the
// data path pays nothing for it. Replies (answer_dhcp) are sent out of the tap, that is
// to the guest alone. The request itself still reaches the bridge too, as a broadcast
// would from any NIC on it: no other DHCP server answers there (the containers'
// addresses are static).
//
// Frames the tap hands the guest (another VM's DHCP broadcast, forwarded by the bridge)
// are outgoing on the tap and ignored. Its own thread; needs CAP_NET_RAW, as the tap
// needs CAP_NET_ADMIN.

#include <string>

#include "vmm/common/event_fd.hpp"
#include "vmm/common/thread.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/net/dhcp_server.hpp"

namespace berth::net {

class InterfaceDhcpServer {
public:
    // Serves `offer` to the guest behind interface `interface` (a tap) until destroyed.
    InterfaceDhcpServer(const std::string& interface, const DhcpOffer& offer);
    ~InterfaceDhcpServer();
    InterfaceDhcpServer(const InterfaceDhcpServer&) = delete;
    InterfaceDhcpServer& operator=(const InterfaceDhcpServer&) = delete;

private:
    void loop();

    DhcpOffer offer_;
    int interface_index_ = 0;
    UniqueFd socket_;
    EventFd stop_;
    Thread thread_;
};

}  // namespace berth::net
