#pragma once
// MSI-X messages delivered by KVM: each vector gets a GSI (routed to its MSI message
// through the VM's GsiRouting) and an irqfd, so a device thread raises an interrupt
// with one eventfd write and no vCPU involvement.

#include <memory>
#include <vector>

#include "kvm/eventfd.hpp"
#include "kvm/gsi_routing.hpp"
#include "pci/msix.hpp"

namespace berth::devices::pci {

class KvmMsiSink : public MsiSink {
public:
    KvmMsiSink(const kvm::Vm& vm, kvm::GsiRouting& routing, std::uint16_t vectors);

    void route(std::uint16_t vector, const MsiMessage& message) override;
    void trigger(std::uint16_t vector) override;

private:
    struct Vector {
        std::uint32_t gsi;
        kvm::EventFd event;
        std::unique_ptr<kvm::IrqFd> irqfd;
    };
    kvm::GsiRouting& routing_;
    std::vector<Vector> vectors_;
};

}  // namespace berth::devices::pci
