#include "vmm/x86/cpu_state.hpp"

#include <cstring>

namespace berth::x86 {

std::vector<kvm_msr_entry> initial_msrs() {
    auto msr = [](std::uint32_t index, std::uint64_t value) {
        kvm_msr_entry entry{};
        entry.index = index;
        entry.data = value;
        return entry;
    };
    return {
        msr(msr_ia32_sysenter_cs, 0),
        msr(msr_ia32_sysenter_esp, 0),
        msr(msr_ia32_sysenter_eip, 0),
        msr(msr_star, 0),
        msr(msr_lstar, 0),
        msr(msr_cstar, 0),
        msr(msr_kernel_gs_base, 0),
        msr(msr_syscall_mask, 0),
        msr(msr_ia32_tsc, 0),
        msr(msr_ia32_misc_enable, misc_enable_fast_strings),
    };
}

kvm_fpu initial_fpu() {
    kvm_fpu fpu{};
    fpu.fcw = 0x37f;
    fpu.mxcsr = 0x1f80;
    return fpu;
}

std::uint32_t apic_register(const kvm_lapic_state& lapic, std::size_t offset) {
    std::uint32_t value;
    std::memcpy(&value, lapic.regs + offset, sizeof value);
    return value;
}

void set_lint_pins(kvm_lapic_state& lapic) {
    auto set_delivery = [&](std::size_t offset, std::uint32_t mode) {
        // Bits 10:8 are the delivery mode; keep the rest (mask, trigger, vector).
        const std::uint32_t value = (apic_register(lapic, offset) & ~0x700U) | mode;
        std::memcpy(lapic.regs + offset, &value, sizeof value);
    };
    set_delivery(apic_lvt_lint0, apic_delivery_extint);
    set_delivery(apic_lvt_lint1, apic_delivery_nmi);
}

}  // namespace berth::x86
