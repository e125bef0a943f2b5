#pragma once
// The KVM system file descriptor (/dev/kvm): API version, capability checks,
// host-supported CPUID, and the factory for VMs.

#include "vmm/kvm/kvm_abi.hpp"

#include <string>
#include <vector>

#include "vmm/common/unique_fd.hpp"

namespace berth::kvm {

class Vm;

class System {
public:
    static constexpr const char* default_path = "/dev/kvm";

    // Opens /dev/kvm and checks the API version. When the device is missing or not
    // accessible the Error says how to get it: the module, permissions, or the rig.
    static System open(const std::string& path = default_path);

    int api_version() const;
    // KVM_CHECK_EXTENSION: 0 when absent, otherwise a capability-specific value.
    int check_extension(int capability) const;
    // Size of the kvm_run area each vCPU maps.
    std::size_t vcpu_mmap_size() const;
    // The CPUID leaves this host's KVM can present to a guest.
    std::vector<kvm_cpuid_entry2> supported_cpuid() const;

    // KVM_GET_MSR_INDEX_LIST: the MSRs a snapshot saves (those a vCPU can read back).
    std::vector<std::uint32_t> msr_index_list() const;

    Vm create_vm() const;

    int fd() const { return fd_.get(); }

private:
    explicit System(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

// True when the host's KVM is PVM (the kvm_pvm module): a paravirtualized KVM that
// runs VMs without hardware virtualization, but only for PVM-enabled guest kernels.
// Real-mode firmware runs on it; a stock Linux kernel spins forever.
bool host_kvm_is_pvm();

// The message for a Linux guest on such a host: what is wrong and the way out.
std::string pvm_cannot_boot_linux_message();

// Human names for the capabilities berth relies on, for `berth doctor`.
struct CapabilityName {
    int capability;
    const char* name;
    const char* needed_for;
};
const std::vector<CapabilityName>& key_capabilities();

}  // namespace berth::kvm
