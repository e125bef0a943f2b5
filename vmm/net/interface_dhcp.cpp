#include "vmm/net/interface_dhcp.hpp"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth::net {

namespace {

// Classic BPF over the Ethernet frame (the socket takes every protocol, see below): accept
// UDP to port 67 in an unfragmented IPv4 packet, drop the rest in the kernel.
constexpr std::array<sock_filter, 11> dhcp_filter{{
    {BPF_LD | BPF_H | BPF_ABS, 0, 0, 12},            // EtherType
    {BPF_JMP | BPF_JEQ | BPF_K, 0, 8, ETH_P_IP},     // not IPv4: drop
    {BPF_LD | BPF_B | BPF_ABS, 0, 0, 14 + 9},        // IPv4 protocol
    {BPF_JMP | BPF_JEQ | BPF_K, 0, 6, IPPROTO_UDP},  // not UDP: drop
    {BPF_LD | BPF_H | BPF_ABS, 0, 0, 14 + 6},        // flags and fragment offset
    {BPF_JMP | BPF_JSET | BPF_K, 4, 0, 0x1fff},      // a later fragment: drop
    {BPF_LDX | BPF_B | BPF_MSH, 0, 0, 14},           // X = the IPv4 header's length
    {BPF_LD | BPF_H | BPF_IND, 0, 0, 14 + 2},        // UDP destination port
    {BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 67},           // not the server's port: drop
    {BPF_RET | BPF_K, 0, 0, 0xffff},                 // accept (the whole frame)
    {BPF_RET | BPF_K, 0, 0, 0},                      // drop
}};

// A DHCP message from a guest fits an Ethernet frame; anything longer is not one.
constexpr std::size_t max_frame = 1518;

}  // namespace

InterfaceDhcpServer::InterfaceDhcpServer(const std::string& interface, const DhcpOffer& offer)
    : offer_(offer) {
    interface_index_ = static_cast<int>(::if_nametoindex(interface.c_str()));
    if (interface_index_ == 0) {
        throw_errno(fmt::format("cannot find interface {}", interface), errno);
    }
    // No protocol until the filter is on: nothing unfiltered is queued meanwhile.
    socket_ = UniqueFd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!socket_) {
        throw_errno("cannot open a packet socket for the guest's DHCP", errno);
    }
    sock_fprog program{static_cast<unsigned short>(dhcp_filter.size()),
                       const_cast<sock_filter*>(dhcp_filter.data())};
    if (::setsockopt(socket_.get(), SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) < 0) {
        throw_errno("cannot filter the guest's DHCP socket", errno);
    }
    // Frames the tap receives are the bridge's: its port hook takes them before the
    // kernel hands them to sockets bound to one protocol (ETH_P_IP would see none of the
    // guest's). Sockets bound to all protocols see them first, as tcpdump does. Frames
    // leaving the tap (to the guest) are skipped before the kernel copies them, so the
    // host-to-guest path pays nothing; kernels before 4.20 lack the option and the loop
    // drops those frames itself.
    const int ignore_outgoing = 1;
    if (::setsockopt(socket_.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &ignore_outgoing,
                     sizeof ignore_outgoing) < 0 &&
        errno != ENOPROTOOPT) {
        throw_errno("cannot make the guest's DHCP socket skip frames to the guest", errno);
    }
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = interface_index_;
    if (::bind(socket_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) < 0) {
        throw_errno(fmt::format("cannot bind the guest's DHCP socket to {}", interface), errno);
    }
    thread_ = Thread("net-dhcp", [this] { loop(); });
}

InterfaceDhcpServer::~InterfaceDhcpServer() {
    stop_.signal();
    thread_.join();
}

void InterfaceDhcpServer::loop() {
    std::array<std::uint8_t, max_frame> frame{};
    for (;;) {
        pollfd fds[2] = {{socket_.get(), POLLIN, 0}, {stop_.fd(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;  // cannot happen with valid arguments; the guest's DHCP goes quiet
        }
        if ((fds[1].revents & POLLIN) != 0) {
            return;
        }
        for (;;) {
            sockaddr_ll from{};
            socklen_t from_size = sizeof from;
            const ssize_t got = ::recvfrom(socket_.get(), frame.data(), frame.size(), MSG_TRUNC,
                                           reinterpret_cast<sockaddr*>(&from), &from_size);
            if (got < 0) {
                break;  // EAGAIN: all read
            }
            if (from.sll_pkttype == PACKET_OUTGOING ||
                static_cast<std::size_t>(got) > frame.size()) {
                continue;  // on its way to the guest, or too long to be a DHCP message
            }
            const auto reply =
                answer_dhcp(std::span(frame.data(), static_cast<std::size_t>(got)), offer_);
            if (!reply) {
                continue;
            }
            sockaddr_ll to{};
            to.sll_family = AF_PACKET;
            to.sll_protocol = htons(ETH_P_IP);
            to.sll_ifindex = interface_index_;
            // A full socket buffer drops the reply; the guest asks again.
            (void)::sendto(socket_.get(), reply->data(), reply->size(), 0,
                           reinterpret_cast<const sockaddr*>(&to), sizeof to);
        }
    }
}

}  // namespace berth::net
