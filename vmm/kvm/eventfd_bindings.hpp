#pragma once
// eventfds bound to KVM. An ioeventfd lets KVM complete a guest's write to a
// doorbell address inside the kernel and just bump an eventfd (no exit to berth's vCPU
// thread); an irqfd is the reverse: writing the eventfd injects an interrupt (a GSI)
// without an ioctl. Both registrations are undone when their owner goes away.

#include <cstdint>

#include "vmm/common/event_fd.hpp"

namespace berth::kvm {

class Vm;

// KVM signals `event` when the guest writes `length` bytes (2, 4 or 8; 0 = any) to the
// guest-physical MMIO `address`.
class IoEventFd {
public:
    IoEventFd(const Vm& vm, std::uint64_t address, std::uint32_t length, const EventFd& event);
    ~IoEventFd();
    IoEventFd(const IoEventFd&) = delete;
    IoEventFd& operator=(const IoEventFd&) = delete;

private:
    const Vm& vm_;
    std::uint64_t address_;
    std::uint32_t length_;
    int fd_;
};

// Writing `event` raises `gsi` (as routed by GsiRouting).
class IrqFd {
public:
    IrqFd(const Vm& vm, std::uint32_t gsi, const EventFd& event);
    ~IrqFd();
    IrqFd(const IrqFd&) = delete;
    IrqFd& operator=(const IrqFd&) = delete;

private:
    const Vm& vm_;
    std::uint32_t gsi_;
    int fd_;
};

}  // namespace berth::kvm
