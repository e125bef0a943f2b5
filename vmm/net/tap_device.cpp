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
    // No packet-information prefix and no virtio-net header: plain Ethernet frames, as
    // the NIC model hands them over (it offers no offloads to need the header).
    request.ifr_flags = IFF_TAP | IFF_NO_PI;
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
    return tap;
}

}  // namespace berth::net
