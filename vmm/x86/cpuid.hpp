#pragma once
// The CPUID a vCPU shows its guest: what KVM can virtualize on this host
// (KVM_GET_SUPPORTED_CPUID), made per-vCPU: its own APIC ID, a topology of
// `cpu_count` cores in one package, the hypervisor bit, and KVM's paravirtual
// leaves so the guest finds kvm-clock.

#include "vmm/kvm/kvm_abi.hpp"

#include <cstdint>
#include <vector>

namespace berth::x86 {

inline constexpr std::uint32_t kvm_cpuid_signature_leaf = 0x40000000;
inline constexpr std::uint32_t kvm_cpuid_features_leaf = 0x40000001;

// `supported` is the host list; the result is ready for KVM_SET_CPUID2 on vCPU
// `cpu_index` (its APIC ID) of `cpu_count`.
std::vector<kvm_cpuid_entry2> guest_cpuid(const std::vector<kvm_cpuid_entry2>& supported,
                                          std::uint32_t cpu_index, std::uint32_t cpu_count);

// The entry for (function, index), or nullptr.
const kvm_cpuid_entry2* find_cpuid(const std::vector<kvm_cpuid_entry2>& entries,
                                   std::uint32_t function, std::uint32_t index = 0);

}  // namespace berth::x86
