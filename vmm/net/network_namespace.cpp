#include "vmm/net/network_namespace.hpp"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/net/bridge_network.hpp"

namespace berth::net {

namespace {

UniqueFd open_own_namespace(const char* what) {
    UniqueFd fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!fd) {
        throw_errno(fmt::format("cannot open {} network namespace", what), errno);
    }
    return fd;
}

}  // namespace

UniqueFd make_network_namespace() {
    const UniqueFd host = open_own_namespace("berth's");
    if (::unshare(CLONE_NEWNET) != 0) {
        throw_errno("cannot create the container's network namespace", errno);
    }
    const auto step_back = [&host] {
        if (::setns(host.get(), CLONE_NEWNET) != 0) {
            // berth would go on creating host links (the bridge, veths) in the wrong place.
            std::abort();
        }
    };
    UniqueFd container;
    try {
        container = open_own_namespace("the container's");
        set_loopback_up();
    } catch (...) {
        step_back();
        throw;
    }
    step_back();
    return container;
}

UniqueFd open_network_namespace(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        throw bad_input(
            errno_message(fmt::format("cannot open network namespace {}", quote(path)), errno));
    }
    // Any file opens; only a namespace file answers NS_GET_NSTYPE.
    if (::ioctl(fd.get(), NS_GET_NSTYPE) != CLONE_NEWNET) {
        throw bad_input(fmt::format("{} is not a network namespace", quote(path)));
    }
    return fd;
}

}  // namespace berth::net
