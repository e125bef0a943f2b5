#pragma once
// A KVM virtual machine: memory slots, vCPUs, and the in-kernel platform pieces.

#include "vmm/kvm/kvm_abi.hpp"

#include <cstdint>
#include <span>

#include "vmm/common/unique_fd.hpp"

namespace berth::kvm {

class Vcpu;

class Vm {
public:
    Vm(UniqueFd fd, std::size_t vcpu_mmap_size)
        : fd_(std::move(fd)), vcpu_mmap_size_(vcpu_mmap_size) {}

    // Maps host memory [host_address, +size) at guest-physical `guest_address`.
    void set_user_memory_region(std::uint32_t slot, std::uint64_t guest_address, std::uint64_t size,
                                void* host_address);

    Vcpu create_vcpu(unsigned long id) const;

    // In-kernel PIC + IOAPIC + per-vCPU LAPIC; must precede vCPU creation.
    void create_irqchip();
    // In-kernel i8254 timer; needs the irqchip.
    void create_pit2();
    // Intel VT needs three pages of guest-physical space for a TSS and one for an
    // identity map in real mode; we park them just below 4 GiB, out of RAM's way.
    void set_tss_address(std::uint64_t address);
    void set_identity_map_address(std::uint64_t address);
    // Raises or lowers an interrupt line of the in-kernel irqchip.
    void set_irq_line(std::uint32_t irq, bool level);

    // Replaces the whole GSI routing table (see GsiRouting, which keeps the defaults).
    void set_gsi_routing(std::span<const kvm_irq_routing_entry> entries) const;

    // The in-kernel platform's state, for snapshots: KVM_IRQCHIP_PIC_MASTER,
    // KVM_IRQCHIP_PIC_SLAVE or KVM_IRQCHIP_IOAPIC; the PIT; the kvm-clock.
    kvm_irqchip irqchip(std::uint32_t chip_id) const;
    void set_irqchip(const kvm_irqchip& chip);
    kvm_pit_state2 pit2() const;
    void set_pit2(const kvm_pit_state2& pit);
    kvm_clock_data clock() const;
    void set_clock(const kvm_clock_data& clock);

    int check_extension(int capability) const;
    int fd() const { return fd_.get(); }

private:
    UniqueFd fd_;
    std::size_t vcpu_mmap_size_;
};

}  // namespace berth::kvm
