#include "vmm/kvm/gsi_routing.hpp"

#include <cstring>
#include <memory>

#include "vmm/kvm/vm.hpp"

namespace berth::kvm {

namespace {

kvm_irq_routing_entry irqchip_entry(std::uint32_t gsi, std::uint32_t chip, std::uint32_t pin) {
    kvm_irq_routing_entry entry{};
    entry.gsi = gsi;
    entry.type = KVM_IRQ_ROUTING_IRQCHIP;
    entry.u.irqchip.irqchip = chip;
    entry.u.irqchip.pin = pin;
    return entry;
}

// What KVM_CREATE_IRQCHIP installs on x86: GSIs 0-23 on the IOAPIC's pins, and 0-15
// also on the two 8259 PICs.
void add_default_routes(std::vector<kvm_irq_routing_entry>& entries) {
    for (std::uint32_t gsi = 0; gsi < 24; ++gsi) {
        entries.push_back(irqchip_entry(gsi, KVM_IRQCHIP_IOAPIC, gsi));
        if (gsi < 16) {
            entries.push_back(irqchip_entry(
                gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8));
        }
    }
}

}  // namespace

std::uint32_t GsiRouting::allocate() {
    const std::lock_guard lock(mutex_);
    return next_gsi_++;
}

void GsiRouting::set_msi(std::uint32_t gsi, std::uint64_t address, std::uint32_t data) {
    kvm_irq_routing_entry entry{};
    entry.gsi = gsi;
    entry.type = KVM_IRQ_ROUTING_MSI;
    entry.u.msi.address_lo = static_cast<std::uint32_t>(address);
    entry.u.msi.address_hi = static_cast<std::uint32_t>(address >> 32);
    entry.u.msi.data = data;
    const std::lock_guard lock(mutex_);
    msi_[gsi] = entry;
    commit();
}

void GsiRouting::clear(std::uint32_t gsi) {
    const std::lock_guard lock(mutex_);
    if (msi_.erase(gsi) != 0) {
        commit();
    }
}

std::vector<kvm_irq_routing_entry> GsiRouting::entries() const {
    std::vector<kvm_irq_routing_entry> entries;
    add_default_routes(entries);
    for (const auto& [gsi, entry] : msi_) {
        entries.push_back(entry);
    }
    return entries;
}

void GsiRouting::commit() {
    std::vector<kvm_irq_routing_entry> all;
    add_default_routes(all);
    for (const auto& [gsi, entry] : msi_) {
        all.push_back(entry);
    }
    vm_.set_gsi_routing(all);
}

}  // namespace berth::kvm
