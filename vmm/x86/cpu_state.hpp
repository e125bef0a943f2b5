#pragma once
// The rest of a vCPU's reset state for a Linux guest: MSRs, FPU and the local APIC's
// LINT pins, as a PC's firmware would leave them.

#include "vmm/kvm/kvm_abi.hpp"

#include <cstdint>
#include <vector>

namespace berth::x86 {

inline constexpr std::uint32_t msr_ia32_tsc = 0x10;
inline constexpr std::uint32_t msr_ia32_sysenter_cs = 0x174;
inline constexpr std::uint32_t msr_ia32_sysenter_esp = 0x175;
inline constexpr std::uint32_t msr_ia32_sysenter_eip = 0x176;
inline constexpr std::uint32_t msr_ia32_misc_enable = 0x1a0;
inline constexpr std::uint32_t msr_star = 0xc0000081;
inline constexpr std::uint32_t msr_lstar = 0xc0000082;
inline constexpr std::uint32_t msr_cstar = 0xc0000083;
inline constexpr std::uint32_t msr_syscall_mask = 0xc0000084;
inline constexpr std::uint32_t msr_kernel_gs_base = 0xc0000102;
inline constexpr std::uint64_t misc_enable_fast_strings = 1ULL << 0;

// The MSRs berth sets on every vCPU before the first run.
std::vector<kvm_msr_entry> initial_msrs();

// x87 control word 0x37f (all exceptions masked) and MXCSR 0x1f80, as after FNINIT.
kvm_fpu initial_fpu();

// Local APIC register offsets and LVT delivery modes (Intel SDM vol. 3, 11.5.1).
inline constexpr std::size_t apic_lvt_lint0 = 0x350;
inline constexpr std::size_t apic_lvt_lint1 = 0x360;
inline constexpr std::uint32_t apic_delivery_extint = 0x7 << 8;
inline constexpr std::uint32_t apic_delivery_nmi = 0x4 << 8;

// LINT0 takes the legacy PIC's interrupts (ExtINT), LINT1 takes NMIs: the virtual
// wire mode a PC BIOS sets up and the kernel expects to find.
void set_lint_pins(kvm_lapic_state& lapic);

std::uint32_t apic_register(const kvm_lapic_state& lapic, std::size_t offset);

}  // namespace berth::x86
