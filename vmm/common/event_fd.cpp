#include "vmm/common/event_fd.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "vmm/common/error.hpp"

namespace berth {

EventFd::EventFd() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!fd_) {
        throw_errno("cannot create an eventfd", errno);
    }
}

void EventFd::signal() const {
    const std::uint64_t one = 1;
    // Only fails when the counter would overflow, and then a wake-up is pending anyway.
    [[maybe_unused]] const auto written = ::write(fd_.get(), &one, sizeof one);
}

bool EventFd::consume() const {
    std::uint64_t count = 0;
    return ::read(fd_.get(), &count, sizeof count) == sizeof count && count != 0;
}

}  // namespace berth
