#include "vmm/net/netlink.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>  // before the linux headers, which then skip their copies

#include <cerrno>
#include <ctime>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth::net {

namespace {

std::size_t buffer_size() {
    return MNL_SOCKET_BUFFER_SIZE;
}

}  // namespace

Netlink::Netlink() : buffer_(new char[buffer_size()]) {
    socket_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (socket_ == nullptr) {
        throw_errno("cannot open a netlink socket", errno);
    }
    if (mnl_socket_bind(socket_, 0, MNL_SOCKET_AUTOPID) < 0) {
        const int err = errno;
        mnl_socket_close(socket_);
        throw_errno("cannot bind the netlink socket", err);
    }
    port_ = mnl_socket_get_portid(socket_);
    sequence_ = static_cast<std::uint32_t>(std::time(nullptr));
}

Netlink::~Netlink() {
    mnl_socket_close(socket_);
}

int Netlink::index_of(const std::string& name) const {
    const unsigned index = ::if_nametoindex(name.c_str());
    if (index == 0) {
        throw_errno(fmt::format("no network link {}", quote(name)), errno);
    }
    return static_cast<int>(index);
}

int Netlink::request(nlmsghdr* message) {
    message->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    message->nlmsg_seq = ++sequence_;
    if (mnl_socket_sendto(socket_, message, message->nlmsg_len) < 0) {
        return errno;
    }
    for (;;) {
        const ssize_t length = mnl_socket_recvfrom(socket_, buffer_.get(), buffer_size());
        if (length < 0) {
            return errno;
        }
        const int result = mnl_cb_run(buffer_.get(), static_cast<std::size_t>(length), sequence_,
                                      port_, nullptr, nullptr);
        if (result == MNL_CB_ERROR) {
            return errno;
        }
        if (result == MNL_CB_STOP) {
            return 0;
        }
    }
}

bool Netlink::create_bridge(const std::string& name) {
    nlmsghdr* message = mnl_nlmsg_put_header(buffer_.get());
    message->nlmsg_type = RTM_NEWLINK;
    message->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    auto* info = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(message, sizeof(ifinfomsg)));
    info->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(message, IFLA_IFNAME, name.c_str());
    nlattr* link_info = mnl_attr_nest_start(message, IFLA_LINKINFO);
    mnl_attr_put_strz(message, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end(message, link_info);
    const int err = request(message);
    if (err == EEXIST) {
        return false;
    }
    if (err != 0) {
        throw_errno(fmt::format("cannot create bridge {}", name), err);
    }
    return true;
}

void Netlink::create_veth(const std::string& host_name, const std::string& peer_name,
                          int peer_netns_fd) {
    nlmsghdr* message = mnl_nlmsg_put_header(buffer_.get());
    message->nlmsg_type = RTM_NEWLINK;
    message->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    auto* info = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(message, sizeof(ifinfomsg)));
    info->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(message, IFLA_IFNAME, host_name.c_str());
    nlattr* link_info = mnl_attr_nest_start(message, IFLA_LINKINFO);
    mnl_attr_put_strz(message, IFLA_INFO_KIND, "veth");
    nlattr* data = mnl_attr_nest_start(message, IFLA_INFO_DATA);
    // The peer is described by a second ifinfomsg followed by its own attributes.
    nlattr* peer = mnl_attr_nest_start(message, VETH_INFO_PEER);
    auto* peer_info =
        static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(message, sizeof(ifinfomsg)));
    peer_info->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(message, IFLA_IFNAME, peer_name.c_str());
    mnl_attr_put_u32(message, IFLA_NET_NS_FD, static_cast<std::uint32_t>(peer_netns_fd));
    mnl_attr_nest_end(message, peer);
    mnl_attr_nest_end(message, data);
    mnl_attr_nest_end(message, link_info);
    if (const int err = request(message); err != 0) {
        throw_errno(fmt::format("cannot create veth pair {}/{}", host_name, peer_name), err);
    }
}

void Netlink::set_master(const std::string& name, const std::string& master) {
    nlmsghdr* message = mnl_nlmsg_put_header(buffer_.get());
    message->nlmsg_type = RTM_NEWLINK;
    auto* info = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(message, sizeof(ifinfomsg)));
    info->ifi_family = AF_UNSPEC;
    info->ifi_index = index_of(name);
    mnl_attr_put_u32(message, IFLA_MASTER, static_cast<std::uint32_t>(index_of(master)));
    if (const int err = request(message); err != 0) {
        throw_errno(fmt::format("cannot attach {} to {}", name, master), err);
    }
}

void Netlink::set_up(const std::string& name) {
    nlmsghdr* message = mnl_nlmsg_put_header(buffer_.get());
    message->nlmsg_type = RTM_NEWLINK;
    auto* info = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(message, sizeof(ifinfomsg)));
    info->ifi_family = AF_UNSPEC;
    info->ifi_index = index_of(name);
    info->ifi_flags = IFF_UP;
    info->ifi_change = IFF_UP;
    if (const int err = request(message); err != 0) {
        throw_errno(fmt::format("cannot set {} up", name), err);
    }
}

void Netlink::add_address(const std::string& name, std::uint32_t address, int prefix,
                          IfExists if_exists) {
    nlmsghdr* message = mnl_nlmsg_put_header(buffer_.get());
    message->nlmsg_type = RTM_NEWADDR;
    message->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    auto* info = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(message, sizeof(ifaddrmsg)));
    info->ifa_family = AF_INET;
    info->ifa_prefixlen = static_cast<unsigned char>(prefix);
    info->ifa_scope = RT_SCOPE_UNIVERSE;
    info->ifa_index = static_cast<unsigned>(index_of(name));
    const std::uint32_t network_order = htonl(address);
    mnl_attr_put_u32(message, IFA_LOCAL, network_order);
    mnl_attr_put_u32(message, IFA_ADDRESS, network_order);
    const int err = request(message);
    if (err != 0 && !(err == EEXIST && if_exists == IfExists::ok)) {
        throw_errno(fmt::format("cannot add address to {}", name), err);
    }
}

void Netlink::add_default_route(std::uint32_t gateway) {
    nlmsghdr* message = mnl_nlmsg_put_header(buffer_.get());
    message->nlmsg_type = RTM_NEWROUTE;
    message->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    auto* route = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(message, sizeof(rtmsg)));
    route->rtm_family = AF_INET;
    route->rtm_dst_len = 0;
    route->rtm_table = RT_TABLE_MAIN;
    route->rtm_protocol = RTPROT_BOOT;
    route->rtm_scope = RT_SCOPE_UNIVERSE;
    route->rtm_type = RTN_UNICAST;
    mnl_attr_put_u32(message, RTA_GATEWAY, htonl(gateway));
    if (const int err = request(message); err != 0) {
        throw_errno("cannot add the default route", err);
    }
}

bool Netlink::delete_link(const std::string& name) {
    nlmsghdr* message = mnl_nlmsg_put_header(buffer_.get());
    message->nlmsg_type = RTM_DELLINK;
    auto* info = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(message, sizeof(ifinfomsg)));
    info->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(message, IFLA_IFNAME, name.c_str());
    const int err = request(message);
    if (err == ENODEV) {
        return false;
    }
    if (err != 0) {
        throw_errno(fmt::format("cannot delete link {}", name), err);
    }
    return true;
}

}  // namespace berth::net
