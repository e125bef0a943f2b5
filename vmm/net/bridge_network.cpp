#include "vmm/net/bridge_network.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <utility>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/net/netlink.hpp"

namespace berth::net {

namespace {

constexpr const char* lease_directory = "/run/berth/net";

void make_directory(const char* path) {
    if (::mkdir(path, 0755) != 0 && errno != EEXIST) {
        throw_errno(fmt::format("cannot create {}", path), errno);
    }
}

// Locks `path` for us; false when another live berth holds it.
bool try_lock(const std::string& path, UniqueFd& lock) {
    for (;;) {
        UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        if (!fd) {
            throw_errno(fmt::format("cannot open address lease {}", path), errno);
        }
        if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
            if (errno == EWOULDBLOCK) {
                return false;
            }
            throw_errno(fmt::format("cannot lock address lease {}", path), errno);
        }
        // The previous holder may have unlinked the file between our open and flock:
        // then we hold a lock on a dead inode and must start again.
        struct stat opened {};
        struct stat named {};
        if (::fstat(fd.get(), &opened) == 0 && ::stat(path.c_str(), &named) == 0 &&
            opened.st_ino == named.st_ino && opened.st_dev == named.st_dev) {
            lock = std::move(fd);
            return true;
        }
    }
}

}  // namespace

bool BridgeSubnet::is_host_address(const Ipv4Cidr& address) const {
    const std::uint32_t network = gateway.address & gateway.netmask();
    const std::uint32_t broadcast = network | ~gateway.netmask();
    return address.prefix == gateway.prefix && gateway.contains(address.address) &&
           address.address != network && address.address != broadcast &&
           address.address != gateway.address;
}

BridgeSubnet default_bridge() {
    return {bridge_name, {bridge_gateway, bridge_prefix}};
}

BridgeSubnet find_bridge(const std::string& name, std::string_view flag) {
    if (name == bridge_name) {
        return default_bridge();
    }
    struct stat info {};
    const std::string sys = "/sys/class/net/" + name;
    if (name.empty() || name.find('/') != std::string::npos || ::stat(sys.c_str(), &info) != 0) {
        throw bad_input(
            fmt::format("{}: there is no network interface {}; create the bridge "
                        "(ip link add {} type bridge) or use --net bridge (berth0, "
                        "made by berth)",
                        flag, quote(name), name));
    }
    if (::stat((sys + "/bridge").c_str(), &info) != 0) {
        throw bad_input(
            fmt::format("{}: {} is not a bridge; name a bridge (ip -d link show "
                        "type bridge lists them) or use --net bridge (berth0)",
                        flag, quote(name)));
    }
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) {
        throw_errno("cannot list the host's addresses", errno);
    }
    std::optional<Ipv4Cidr> found;
    for (const ifaddrs* entry = list; entry != nullptr && !found; entry = entry->ifa_next) {
        if (entry->ifa_addr != nullptr && entry->ifa_addr->sa_family == AF_INET &&
            entry->ifa_netmask != nullptr && name == entry->ifa_name) {
            const auto address = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
            const auto mask = reinterpret_cast<const sockaddr_in*>(entry->ifa_netmask);
            found = Ipv4Cidr{ntohl(address->sin_addr.s_addr),
                             std::popcount(ntohl(mask->sin_addr.s_addr))};
        }
    }
    ::freeifaddrs(list);
    // A /31 or /32 leaves no address to hand out beside the bridge's own.
    if (!found || found->prefix > 30) {
        throw bad_input(
            fmt::format("{}: bridge {} has no IPv4 network to hand out addresses from; give it one "
                        "(ip addr add 10.89.0.1/24 dev {}; berth's DHCP serves that network)",
                        flag, quote(name), name));
    }
    return {name, *found};
}

IpLease IpLease::acquire(const std::optional<Ipv4Cidr>& wanted) {
    return acquire(default_bridge(), wanted);
}

IpLease IpLease::acquire(const BridgeSubnet& subnet, const std::optional<Ipv4Cidr>& wanted) {
    make_directory("/run/berth");
    make_directory(lease_directory);
    IpLease lease;
    const auto take = [&](std::uint32_t address) {
        Ipv4Cidr cidr{address, subnet.gateway.prefix};
        const std::string path = fmt::format("{}/{}", lease_directory, cidr.address_text());
        if (!try_lock(path, lease.lock_)) {
            return false;
        }
        lease.cidr_ = cidr;
        lease.path_ = path;
        return true;
    };
    if (wanted) {
        if (!take(wanted->address)) {
            throw bad_input(fmt::format("--ip {} is in use by another running container or VM",
                                        wanted->text()));
        }
        return lease;
    }
    // The network's host addresses but the gateway (for berth0 10.88.0.2 ..
    // 10.88.255.254); start where our pid points to spread out.
    const std::uint32_t network = subnet.gateway.address & subnet.gateway.netmask();
    const std::uint32_t count = ~subnet.gateway.netmask() - 1;  // without network, broadcast
    const std::uint32_t start = static_cast<std::uint32_t>(::getpid()) % count;
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::uint32_t address = network + 1 + (start + i) % count;
        if (address != subnet.gateway.address && take(address)) {
            return lease;
        }
    }
    throw Error(fmt::format("no free address left in {} on {}",
                            Ipv4Cidr{network, subnet.gateway.prefix}.text(), subnet.name));
}

IpLease::~IpLease() {
    if (lock_) {
        // Unlink while still holding the lock; try_lock notices a stale inode.
        ::unlink(path_.c_str());
    }
}

namespace {

// berth0 exists, has its address and is up (made on first use, then kept).
void ensure_bridge(Netlink& netlink) {
    // Whether we made it or found it, another berth may be making it right now: both of
    // us make sure of the address.
    netlink.create_bridge(bridge_name);
    netlink.add_address(bridge_name, bridge_gateway, bridge_prefix, IfExists::ok);
    netlink.set_up(bridge_name);
}

}  // namespace

BridgePort BridgePort::attach(pid_t container_pid, int netns_fd) {
    Netlink netlink;
    ensure_bridge(netlink);
    BridgePort port;
    const std::string host_name = fmt::format("bv{}", container_pid);
    netlink.create_veth(host_name, container_interface, netns_fd);
    port.host_name_ = host_name;
    netlink.set_master(host_name, bridge_name);
    netlink.set_up(host_name);
    return port;
}

void plug_into_bridge(const std::string& interface, const BridgeSubnet& bridge) {
    Netlink netlink;
    if (bridge.name == bridge_name) {
        ensure_bridge(netlink);
    }
    netlink.set_master(interface, bridge.name);
    netlink.set_up(interface);
}

BridgePort::BridgePort(BridgePort&& other) noexcept
    : host_name_(std::exchange(other.host_name_, {})) {}

BridgePort& BridgePort::operator=(BridgePort&& other) noexcept {
    std::swap(host_name_, other.host_name_);
    return *this;
}

BridgePort::~BridgePort() {
    if (host_name_.empty()) {
        return;
    }
    try {
        // The pair usually died with the container's namespace; this catches the rest.
        Netlink().delete_link(host_name_);
    } catch (const Error&) {
        // Nothing more to do in a destructor; the link dies with no namespace anyway.
    }
}

void set_loopback_up() {
    Netlink().set_up("lo");
}

void configure_bridge_interface(const Ipv4Cidr& address) {
    Netlink netlink;
    netlink.add_address(container_interface, address.address, address.prefix, IfExists::fail);
    netlink.set_up(container_interface);
    netlink.add_default_route(bridge_gateway);
}

}  // namespace berth::net
