#include "vmm/net/bridge_network.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
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

IpLease IpLease::acquire(const std::optional<Ipv4Cidr>& wanted) {
    make_directory("/run/berth");
    make_directory(lease_directory);
    IpLease lease;
    const auto take = [&](std::uint32_t address) {
        Ipv4Cidr cidr{address, bridge_prefix};
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
            throw bad_input(
                fmt::format("--ip {} is in use by another running container", wanted->text()));
        }
        return lease;
    }
    // Host addresses 10.88.0.2 .. 10.88.255.254; start where our pid points to spread out.
    constexpr std::uint32_t first = 2;
    constexpr std::uint32_t count = (1u << (32 - bridge_prefix)) - 3;
    const std::uint32_t start = static_cast<std::uint32_t>(::getpid()) % count;
    for (std::uint32_t i = 0; i < count; ++i) {
        if (take(bridge_network + first + (start + i) % count)) {
            return lease;
        }
    }
    throw Error("no free address left in 10.88.0.0/16 for --net bridge");
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

void plug_into_bridge(const std::string& interface) {
    Netlink netlink;
    ensure_bridge(netlink);
    netlink.set_master(interface, bridge_name);
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
