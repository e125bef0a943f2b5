#include "vmm/kvm/vm.hpp"

#include "vmm/kvm/ioctl.hpp"
#include "vmm/kvm/vcpu.hpp"

#include <cstring>
#include <vector>

namespace berth::kvm {

void Vm::set_user_memory_region(std::uint32_t slot, std::uint64_t guest_address, std::uint64_t size,
                                void* host_address) {
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.guest_phys_addr = guest_address;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<std::uint64_t>(host_address);
    KVM_IOCTL(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region);
}

Vcpu Vm::create_vcpu(unsigned long id) const {
    UniqueFd vcpu_fd(KVM_IOCTL(fd_.get(), KVM_CREATE_VCPU, id));
    return Vcpu(std::move(vcpu_fd), vcpu_mmap_size_);
}

void Vm::create_irqchip() {
    KVM_IOCTL(fd_.get(), KVM_CREATE_IRQCHIP, 0);
}

void Vm::create_pit2() {
    kvm_pit_config config{};
    config.flags = KVM_PIT_SPEAKER_DUMMY;
    KVM_IOCTL(fd_.get(), KVM_CREATE_PIT2, &config);
}

void Vm::set_tss_address(std::uint64_t address) {
    KVM_IOCTL(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(address));
}

void Vm::set_identity_map_address(std::uint64_t address) {
    KVM_IOCTL(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &address);
}

void Vm::set_irq_line(std::uint32_t irq, bool level) {
    kvm_irq_level line{};
    line.irq = irq;
    line.level = level ? 1 : 0;
    KVM_IOCTL(fd_.get(), KVM_IRQ_LINE, &line);
}

void Vm::set_gsi_routing(std::span<const kvm_irq_routing_entry> entries) const {
    // kvm_irq_routing ends in a flexible array: build it in 8-byte-aligned storage.
    const std::size_t bytes = sizeof(kvm_irq_routing) + entries.size_bytes();
    std::vector<std::uint64_t> storage((bytes + 7) / 8);
    auto* table = reinterpret_cast<kvm_irq_routing*>(storage.data());
    table->nr = static_cast<std::uint32_t>(entries.size());
    std::memcpy(table->entries, entries.data(), entries.size_bytes());
    KVM_IOCTL(fd_.get(), KVM_SET_GSI_ROUTING, table);
}

kvm_irqchip Vm::irqchip(std::uint32_t chip_id) const {
    kvm_irqchip chip{};
    chip.chip_id = chip_id;
    KVM_IOCTL(fd_.get(), KVM_GET_IRQCHIP, &chip);
    return chip;
}

void Vm::set_irqchip(const kvm_irqchip& chip) {
    KVM_IOCTL(fd_.get(), KVM_SET_IRQCHIP, &chip);
}

kvm_pit_state2 Vm::pit2() const {
    kvm_pit_state2 pit{};
    KVM_IOCTL(fd_.get(), KVM_GET_PIT2, &pit);
    return pit;
}

void Vm::set_pit2(const kvm_pit_state2& pit) {
    KVM_IOCTL(fd_.get(), KVM_SET_PIT2, &pit);
}

kvm_clock_data Vm::clock() const {
    kvm_clock_data clock{};
    KVM_IOCTL(fd_.get(), KVM_GET_CLOCK, &clock);
    return clock;
}

void Vm::set_clock(const kvm_clock_data& clock) {
    KVM_IOCTL(fd_.get(), KVM_SET_CLOCK, &clock);
}

int Vm::check_extension(int capability) const {
    return KVM_IOCTL(fd_.get(), KVM_CHECK_EXTENSION, capability);
}

}  // namespace berth::kvm
