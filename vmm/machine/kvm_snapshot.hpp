#pragma once
// KVM's share of a snapshot: each vCPU's registers and CPU state, and the in-kernel
// platform (PIC, IOAPIC, PIT, kvm-clock), as JSON with KVM's structures as binary
// strings (snapshot_file.hpp). Read while every vCPU is parked outside KVM_RUN.
//
// Restore order matters to KVM: CPUID is set before any of this (the caller's, as for
// a boot), the special registers (APIC base) before the LAPIC, the MSRs (TSC deadline)
// after it, the pending events last; the platform after the devices have driven their
// interrupt lines.

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "vmm/kvm/vcpu.hpp"
#include "vmm/kvm/vm.hpp"

namespace berth::machine {

nlohmann::json save_vcpu(const kvm::Vcpu& vcpu, const std::vector<std::uint32_t>& msr_indices);
void restore_vcpu(kvm::Vcpu& vcpu, const nlohmann::json& state);

nlohmann::json save_platform(const kvm::Vm& vm);
void restore_platform(kvm::Vm& vm, const nlohmann::json& state);

// A trivially copyable structure as a binary string, and back: a string of another
// size (another kernel's layout, damage) throws a bad-input Error naming `what`.
template <typename T>
nlohmann::json to_binary(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(&value);
    return nlohmann::json::binary(std::vector<std::uint8_t>(bytes, bytes + sizeof(T)));
}
void copy_binary(const nlohmann::json& state, const char* what, void* out, std::size_t size);
template <typename T>
T from_binary(const nlohmann::json& state, const char* what) {
    static_assert(std::is_trivially_copyable_v<T>);
    T value{};
    copy_binary(state, what, &value, sizeof(T));
    return value;
}

}  // namespace berth::machine
