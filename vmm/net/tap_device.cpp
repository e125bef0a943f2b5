#include "vmm/net/tap_device.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth::net {

TapDevice TapDevice::create(const std::string& name) {
    ifreq request{};
    if (name.empty() || name.size() >= sizeof request.ifr_name) {
        throw Error(fmt::format("tap name {} is not 1-15 characters", quote(name)));
    }
    TapDevice tap;
    tap.fd_ = UniqueFd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!tap.fd_) {
        const int err = errno;
        throw bad_input(
            fmt::format("cannot open /dev/net/tun: {}; load the tun module (modprobe "
                        "tun) or use --net user",
                        std::strerror(err)));
    }
    // No packet-information prefix; a virtio-net header (the NIC model's own layout).
    request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    std::memcpy(request.ifr_name, name.data(), name.size());
    if (::ioctl(tap.fd_.get(), TUNSETIFF, &request) < 0) {
        const int err = errno;
        if (err == EPERM) {
            throw bad_input(
                fmt::format("cannot create tap {}: {}; --net bridge needs root (or "
                            "CAP_NET_ADMIN), --net user does not",
                            name, std::strerror(err)));
        }
        throw_errno(fmt::format("cannot create tap {}", name), err);
    }
    tap.name_ = name;
    int header_size = vnet_header_size;
    if (::ioctl(tap.fd_.get(), TUNSETVNETHDRSZ, &header_size) < 0) {
        throw_errno(fmt::format("cannot set tap {}'s vnet header size", name), errno);
    }
    // Probe: the most first, then checksums alone; what the kernel takes, we offer.
    constexpr unsigned tries[] = {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, TUN_F_CSUM};
    for (const unsigned flags : tries) {
        if (::ioctl(tap.fd_.get(), TUNSETOFFLOAD, static_cast<unsigned long>(flags)) == 0) {
            tap.offloads_ = flags;
            break;
        }
    }
    tap.set_offloads(0);
    return tap;
}

void TapDevice::set_offloads(unsigned flags) const {
    if (::ioctl(fd_.get(), TUNSETOFFLOAD, static_cast<unsigned long>(flags & offloads_)) < 0) {
        throw_errno(fmt::format("cannot set tap {}'s offloads", name_), errno);
    }
}

}  // namespace berth::net
