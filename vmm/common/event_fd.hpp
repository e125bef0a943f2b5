#pragma once
// A non-blocking, close-on-exec eventfd counter: one thread signals, another wakes
// from poll and consumes. Devices use it for doorbells and stop requests; the machine
// hands the same descriptor to KVM (ioeventfd, irqfd: vmm/kvm/eventfd_bindings.hpp).

#include "vmm/common/unique_fd.hpp"

namespace berth {

class EventFd {
public:
    EventFd();
    int fd() const { return fd_.get(); }
    // Adds one to the counter (wakes pollers).
    void signal() const;
    // Reads and clears the counter; false when it was zero.
    bool consume() const;

private:
    UniqueFd fd_;
};

}  // namespace berth
