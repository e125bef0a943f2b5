#include "vmm/kvm/eventfd_bindings.hpp"

#include <cerrno>
#include <cstdio>

#include "vmm/common/error.hpp"
#include "vmm/kvm/ioctl.hpp"
#include "vmm/kvm/vm.hpp"

namespace berth::kvm {

namespace {

kvm_ioeventfd ioeventfd_request(std::uint64_t address, std::uint32_t length, int fd) {
    kvm_ioeventfd request{};
    request.addr = address;
    request.len = length;
    request.fd = fd;
    return request;
}

}  // namespace

IoEventFd::IoEventFd(const Vm& vm, std::uint64_t address, std::uint32_t length,
                     const EventFd& event)
    : vm_(vm), address_(address), length_(length), fd_(event.fd()) {
    kvm_ioeventfd request = ioeventfd_request(address, length, fd_);
    KVM_IOCTL(vm_.fd(), KVM_IOEVENTFD, &request);
}

IoEventFd::~IoEventFd() {
    kvm_ioeventfd request = ioeventfd_request(address_, length_, fd_);
    request.flags = KVM_IOEVENTFD_FLAG_DEASSIGN;
    if (::ioctl(vm_.fd(), KVM_IOEVENTFD, &request) < 0) {
        std::fprintf(stderr, "berth: KVM_IOEVENTFD deassign failed (errno %d)\n", errno);
    }
}

IrqFd::IrqFd(const Vm& vm, std::uint32_t gsi, const EventFd& event)
    : vm_(vm), gsi_(gsi), fd_(event.fd()) {
    kvm_irqfd request{};
    request.fd = static_cast<std::uint32_t>(fd_);
    request.gsi = gsi;
    KVM_IOCTL(vm_.fd(), KVM_IRQFD, &request);
}

IrqFd::~IrqFd() {
    kvm_irqfd request{};
    request.fd = static_cast<std::uint32_t>(fd_);
    request.gsi = gsi_;
    request.flags = KVM_IRQFD_FLAG_DEASSIGN;
    if (::ioctl(vm_.fd(), KVM_IRQFD, &request) < 0) {
        std::fprintf(stderr, "berth: KVM_IRQFD deassign failed (errno %d)\n", errno);
    }
}

}  // namespace berth::kvm
