#pragma once
// The one place where berth calls ioctl(2) on KVM file descriptors. Every failure
// becomes an Error naming the ioctl and errno, e.g.
// "KVM_SET_USER_MEMORY_REGION failed: Invalid argument (errno 22)".

#include <sys/ioctl.h>

#include <cerrno>
#include <string_view>

#include "vmm/common/error.hpp"

namespace berth::kvm {

// Calls ioctl(fd, request, arg); retries on EINTR; throws on any other failure.
template <typename Arg>
int checked_ioctl(int fd, unsigned long request, std::string_view name, Arg arg) {
    for (;;) {
        const int rc = ::ioctl(fd, request, arg);
        if (rc >= 0) {
            return rc;
        }
        if (errno != EINTR) {
            throw_errno(std::string(name) + " failed", errno);
        }
    }
}

// Spells the request name once: KVM_IOCTL(fd, KVM_CREATE_VM, 0).
#define KVM_IOCTL(fd, request, arg) ::berth::kvm::checked_ioctl((fd), (request), #request, (arg))

}  // namespace berth::kvm
