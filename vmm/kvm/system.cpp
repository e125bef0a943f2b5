#include "vmm/kvm/system.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include <fmt/format.h>

#include "vmm/kvm/ioctl.hpp"
#include "vmm/kvm/vm.hpp"

namespace berth::kvm {

namespace {

std::string how_to_get_kvm(const std::string& path, int err) {
    switch (err) {
        case ENOENT:
        case ENXIO:
        case ENODEV:
            return fmt::format(
                "{} is missing: KVM is not available on this machine; load the module "
                "(modprobe kvm_intel or kvm_amd) with virtualization enabled in the firmware, "
                "or run berth inside the emulated rig: tools/kvm-rig -- berth ...",
                path);
        case EACCES:
        case EPERM:
            return fmt::format(
                "{} is not accessible to this user: add yourself to its group "
                "(usermod -aG kvm $USER, then log in again) or run as root",
                path);
        default:
            return errno_message("cannot open " + path, err);
    }
}

}  // namespace

System System::open(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd) {
        throw Error(how_to_get_kvm(path, errno));
    }
    System system(std::move(fd));
    const int version = system.api_version();
    if (version != KVM_API_VERSION) {
        throw Error(
            fmt::format("{} speaks KVM API version {}, berth needs {}: the kernel is "
                        "too old or too new for this build",
                        path, version, KVM_API_VERSION));
    }
    return system;
}

int System::api_version() const {
    return KVM_IOCTL(fd_.get(), KVM_GET_API_VERSION, 0);
}

int System::check_extension(int capability) const {
    return KVM_IOCTL(fd_.get(), KVM_CHECK_EXTENSION, capability);
}

std::size_t System::vcpu_mmap_size() const {
    return static_cast<std::size_t>(KVM_IOCTL(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0));
}

std::vector<kvm_cpuid_entry2> System::supported_cpuid() const {
    // KVM says E2BIG while the buffer is too small; grow until it fits.
    for (std::size_t capacity = 64; capacity <= 4096; capacity *= 2) {
        const std::size_t bytes = sizeof(kvm_cpuid2) + capacity * sizeof(kvm_cpuid_entry2);
        auto buffer = std::make_unique<std::uint8_t[]>(bytes);
        auto* cpuid = reinterpret_cast<kvm_cpuid2*>(buffer.get());
        cpuid->nent = static_cast<std::uint32_t>(capacity);
        if (::ioctl(fd_.get(), KVM_GET_SUPPORTED_CPUID, cpuid) == 0) {
            return {cpuid->entries, cpuid->entries + cpuid->nent};
        }
        if (errno != E2BIG) {
            throw_errno("KVM_GET_SUPPORTED_CPUID failed", errno);
        }
    }
    throw Error("KVM_GET_SUPPORTED_CPUID failed: more than 4096 CPUID entries");
}

std::vector<std::uint32_t> System::msr_index_list() const {
    // KVM says E2BIG and the count it needs while the buffer is too small.
    for (std::uint32_t capacity = 256; capacity <= 65536; capacity *= 2) {
        std::vector<std::uint32_t> buffer(1 + capacity);
        auto* list = reinterpret_cast<kvm_msr_list*>(buffer.data());
        list->nmsrs = capacity;
        if (::ioctl(fd_.get(), KVM_GET_MSR_INDEX_LIST, list) == 0) {
            return {list->indices, list->indices + list->nmsrs};
        }
        if (errno != E2BIG) {
            throw_errno("KVM_GET_MSR_INDEX_LIST failed", errno);
        }
    }
    throw Error("KVM_GET_MSR_INDEX_LIST failed: more than 65536 MSRs");
}

Vm System::create_vm() const {
    // Type 0 is the default x86 VM.
    UniqueFd vm_fd(KVM_IOCTL(fd_.get(), KVM_CREATE_VM, 0UL));
    return Vm(std::move(vm_fd), vcpu_mmap_size());
}

bool host_kvm_is_pvm() {
    return ::access("/sys/module/kvm_pvm", F_OK) == 0;
}

std::string pvm_cannot_boot_linux_message() {
    return "this host's /dev/kvm is PVM (module kvm_pvm), which boots only PVM-enabled "
           "guest kernels, not stock Linux; run berth inside the emulated rig: "
           "tools/kvm-rig -- berth ...";
}

const std::vector<CapabilityName>& key_capabilities() {
    static const std::vector<CapabilityName> names = {
        {KVM_CAP_USER_MEMORY, "user memory", "guest RAM"},
        {KVM_CAP_IRQCHIP, "irqchip", "in-kernel interrupt controllers"},
        {KVM_CAP_PIT2, "pit2", "in-kernel timer"},
        {KVM_CAP_IOEVENTFD, "ioeventfd", "virtio notifications"},
        {KVM_CAP_IRQFD, "irqfd", "virtio interrupts"},
        {KVM_CAP_IRQ_ROUTING, "irq routing", "MSI-X"},
        {KVM_CAP_EXT_CPUID, "cpuid2", "CPUID setup"},
        {KVM_CAP_TSC_DEADLINE_TIMER, "tsc deadline", "guest timers"},
        {KVM_CAP_IMMEDIATE_EXIT, "immediate exit", "clean vCPU stop"},
    };
    return names;
}

}  // namespace berth::kvm
