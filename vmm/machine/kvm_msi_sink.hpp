#pragma once
// MSI-X messages delivered by KVM: each vector gets a GSI (routed to its MSI message
// through the VM's GsiRouting) and an irqfd, so a device thread raises an interrupt
// with one eventfd write and no vCPU involvement.

#include <memory>
#include <vector>

#include "devices/pci/msix.hpp"
#include "vmm/kvm/eventfd_bindings.hpp"
#include "vmm/kvm/gsi_routing.hpp"

namespace berth::machine {

class KvmMsiSink : public devices::pci::MsiSink {
public:
    KvmMsiSink(const kvm::Vm& vm, kvm::GsiRouting& routing, std::uint16_t vectors);

    void route(std::uint16_t vector, const devices::pci::MsiMessage& message) override;
    void trigger(std::uint16_t vector) override;
    int trigger_fd(std::uint16_t vector) const override { return vectors_.at(vector).event.fd(); }

private:
    struct Vector {
        std::uint32_t gsi;
        EventFd event;
        std::unique_ptr<kvm::IrqFd> irqfd;
    };
    kvm::GsiRouting& routing_;
    std::vector<Vector> vectors_;
};

}  // namespace berth::machine
