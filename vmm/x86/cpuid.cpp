#include "vmm/x86/cpuid.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace berth::x86 {

namespace {

constexpr std::uint32_t leaf_features = 0x1;
constexpr std::uint32_t leaf_cache_parameters = 0x4;
constexpr std::uint32_t leaf_topology = 0xb;
constexpr std::uint32_t leaf_topology_v2 = 0x1f;

constexpr std::uint32_t features_ecx_hypervisor = 1U << 31;
constexpr std::uint32_t features_edx_htt = 1U << 28;

// Topology level types in leaf 0xB/0x1F ECX[15:8].
constexpr std::uint32_t level_smt = 1;
constexpr std::uint32_t level_core = 2;

// Bits of APIC ID that number the cores of a package of `count` cores.
std::uint32_t core_id_bits(std::uint32_t count) {
    return count <= 1 ? 0 : static_cast<std::uint32_t>(std::bit_width(count - 1));
}

kvm_cpuid_entry2* find_mutable(std::vector<kvm_cpuid_entry2>& entries, std::uint32_t function,
                               std::uint32_t index = 0) {
    for (auto& entry : entries) {
        const bool indexed = (entry.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) != 0;
        if (entry.function == function && (!indexed || entry.index == index)) {
            return &entry;
        }
    }
    return nullptr;
}

// Replaces the extended-topology leaf `function`: one thread per core, `count` cores.
void set_topology_leaf(std::vector<kvm_cpuid_entry2>& entries, std::uint32_t function,
                       std::uint32_t apic_id, std::uint32_t count) {
    std::erase_if(entries, [&](const kvm_cpuid_entry2& e) { return e.function == function; });
    for (std::uint32_t level = 0; level < 3; ++level) {
        kvm_cpuid_entry2 entry{};
        entry.function = function;
        entry.index = level;
        entry.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
        entry.edx = apic_id;  // the full x2APIC ID at every level
        if (level == 0) {
            entry.eax = 0;  // no APIC ID bits for threads: one thread per core
            entry.ebx = 1;
            entry.ecx = level | (level_smt << 8);
        } else if (level == 1) {
            entry.eax = core_id_bits(count);
            entry.ebx = count;
            entry.ecx = level | (level_core << 8);
        } else {
            entry.ecx = level;  // level type 0: no more levels
        }
        entries.push_back(entry);
    }
}

}  // namespace

const kvm_cpuid_entry2* find_cpuid(const std::vector<kvm_cpuid_entry2>& entries,
                                   std::uint32_t function, std::uint32_t index) {
    return find_mutable(const_cast<std::vector<kvm_cpuid_entry2>&>(entries), function, index);
}

std::vector<kvm_cpuid_entry2> guest_cpuid(const std::vector<kvm_cpuid_entry2>& supported,
                                          std::uint32_t cpu_index, std::uint32_t cpu_count) {
    std::vector<kvm_cpuid_entry2> entries = supported;
    const std::uint32_t apic_id = cpu_index;
    const std::uint32_t max_basic = [&] {
        const auto* leaf0 = find_cpuid(entries, 0);
        return leaf0 != nullptr ? leaf0->eax : 0;
    }();

    if (auto* features = find_mutable(entries, leaf_features)) {
        // EBX: [31:24] initial APIC ID, [23:16] addressable logical processors.
        const std::uint32_t logical = std::min<std::uint32_t>(cpu_count, 255);
        features->ebx = (features->ebx & 0x0000ffff) | (logical << 16) | (apic_id << 24);
        features->ecx |= features_ecx_hypervisor;
        if (cpu_count > 1) {
            features->edx |= features_edx_htt;
        } else {
            features->edx &= ~features_edx_htt;
        }
    }
    for (auto& entry : entries) {
        if (entry.function == leaf_cache_parameters && (entry.eax & 0x1f) != 0) {
            // EAX[31:26]: cores per package - 1; [25:14]: logical CPUs sharing - 1.
            // Caches up to L2 are per core, the last level is shared by the package.
            const std::uint32_t cache_level = (entry.eax >> 5) & 0x7;
            const std::uint32_t sharing = cache_level >= 3 ? cpu_count - 1 : 0;
            const std::uint32_t cores = std::min<std::uint32_t>(cpu_count - 1, 63);
            entry.eax = (entry.eax & 0x3fff) | ((sharing & 0xfff) << 14) | (cores << 26);
        }
    }
    if (max_basic >= leaf_topology) {
        set_topology_leaf(entries, leaf_topology, apic_id, cpu_count);
    }
    if (max_basic >= leaf_topology_v2) {
        set_topology_leaf(entries, leaf_topology_v2, apic_id, cpu_count);
    }

    // KVM's paravirtual leaves: "KVMKVMKVM\0\0\0" and the features KVM reported.
    auto* signature = find_mutable(entries, kvm_cpuid_signature_leaf);
    if (signature == nullptr) {
        entries.push_back(kvm_cpuid_entry2{});
        signature = &entries.back();
        signature->function = kvm_cpuid_signature_leaf;
    }
    const char name[12] = {'K', 'V', 'M', 'K', 'V', 'M', 'K', 'V', 'M', 0, 0, 0};
    std::memcpy(&signature->ebx, name, 4);
    std::memcpy(&signature->ecx, name + 4, 4);
    std::memcpy(&signature->edx, name + 8, 4);
    signature->eax = std::max(signature->eax, kvm_cpuid_features_leaf);
    return entries;
}

}  // namespace berth::x86
