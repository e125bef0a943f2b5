#pragma once
// The VM's interrupt routing table (GSI → irqchip pin or MSI message). KVM_SET_GSI_ROUTING
// replaces the whole table, including the PIC/IOAPIC routes KVM_CREATE_IRQCHIP set up,
// so this class starts from those same default routes and adds MSI routes for the
// GSIs it hands out (from 24 up). Shared by all devices: every change is committed
// under one lock.

#include "vmm/kvm/kvm_abi.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace berth::kvm {

class Vm;

class GsiRouting {
public:
    static constexpr std::uint32_t first_msi_gsi = 24;

    explicit GsiRouting(const Vm& vm) : vm_(vm) {}

    // A new GSI with no route yet (interrupts on it go nowhere until routed).
    std::uint32_t allocate();
    // Routes `gsi` to the MSI message (address, data) and commits the table.
    void set_msi(std::uint32_t gsi, std::uint64_t address, std::uint32_t data);
    // Removes the route of `gsi` and commits.
    void clear(std::uint32_t gsi);

    // The entries a commit would send (the defaults, then the MSI routes by GSI).
    std::vector<kvm_irq_routing_entry> entries() const;

private:
    void commit();  // with mutex_ held

    const Vm& vm_;
    mutable std::mutex mutex_;
    std::uint32_t next_gsi_ = first_msi_gsi;
    std::map<std::uint32_t, kvm_irq_routing_entry> msi_;
};

}  // namespace berth::kvm
