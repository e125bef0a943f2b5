#pragma once
// The one way to include <linux/kvm.h> in berth.
//
// Linux's UAPI headers (Debian 12's linux-libc-dev 6.1.1xx among them) declare
// flexible array members through __DECLARE_FLEX_ARRAY, which wraps the array in a
// struct beginning with an empty struct. In C that empty struct has size 0; in C++ it
// has size 1, which moves `entries` and changes sizeof(). For kvm_cpuid2, kvm_msrs and
// kvm_irq_routing that breaks the ABI twice over: the ioctl numbers encode the wrong
// size (KVM_GET_SUPPORTED_CPUID fails with EINVAL) and the entries sit at the wrong
// offset. We define the macro as a plain GNU zero-length array before the KVM header
// sees it, and check the layout the kernel expects below.

#include <linux/stddef.h>

#undef __DECLARE_FLEX_ARRAY
#define __DECLARE_FLEX_ARRAY(TYPE, NAME) TYPE NAME[0]

#include <linux/kvm.h>

#include <cstddef>

static_assert(sizeof(kvm_cpuid2) == 8 && offsetof(kvm_cpuid2, entries) == 8,
              "kvm_cpuid2 layout differs from the kernel's: include kvm/kvm_abi.hpp before "
              "any other header that pulls in <linux/kvm.h>");
static_assert(sizeof(kvm_msrs) == 8 && offsetof(kvm_msrs, entries) == 8,
              "kvm_msrs layout differs from the kernel's");
static_assert(sizeof(kvm_irq_routing) == 8 && offsetof(kvm_irq_routing, entries) == 8,
              "kvm_irq_routing layout differs from the kernel's");
static_assert(sizeof(kvm_msr_list) == 4, "kvm_msr_list layout differs from the kernel's");

#include <cstdint>

namespace berth::kvm {

// KVM_PRE_FAULT_MEMORY (Linux 6.10+): maps a range of guest-physical memory into KVM's
// own (nested) page tables ahead of the guest, as a guest fault would, but without an
// exit. Debian 12's linux-libc-dev (6.1) predates it, so the capability, the structure
// and the ioctl number are spelled here as Linux 6.10's include/uapi/linux/kvm.h has
// them. On an older kernel the capability check answers 0 and nothing else is called.
inline constexpr int cap_pre_fault_memory = 236;  // KVM_CAP_PRE_FAULT_MEMORY

struct PreFaultMemory {  // struct kvm_pre_fault_memory
    std::uint64_t gpa;   // in: start; out: where KVM stopped
    std::uint64_t size;  // in: length; out: what is left
    std::uint64_t flags;
    std::uint64_t padding[5];
};
static_assert(sizeof(PreFaultMemory) == 64, "kvm_pre_fault_memory is 64 bytes");

inline constexpr unsigned long ioctl_pre_fault_memory = _IOWR(KVMIO, 0xd5, PreFaultMemory);

#ifdef KVM_PRE_FAULT_MEMORY
static_assert(ioctl_pre_fault_memory == KVM_PRE_FAULT_MEMORY &&
                  cap_pre_fault_memory == KVM_CAP_PRE_FAULT_MEMORY,
              "KVM_PRE_FAULT_MEMORY differs from the kernel headers'");
#endif

}  // namespace berth::kvm
