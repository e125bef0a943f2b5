#include "vmm/kvm/vcpu.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "vmm/kvm/ioctl.hpp"

namespace berth::kvm {

RunArea::RunArea(int vcpu_fd, std::size_t size) : size_(size) {
    void* mapping = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
    if (mapping == MAP_FAILED) {
        throw_errno("cannot map the vCPU's kvm_run area", errno);
    }
    run_ = static_cast<kvm_run*>(mapping);
}

RunArea::~RunArea() {
    if (run_ != nullptr) {
        ::munmap(run_, size_);
    }
}

RunArea::RunArea(RunArea&& other) noexcept
    : run_(std::exchange(other.run_, nullptr)), size_(other.size_) {}

RunOutcome Vcpu::run() {
    if (::ioctl(fd_.get(), KVM_RUN, 0) == 0) {
        return RunOutcome::exited;
    }
    if (errno == EINTR || errno == EAGAIN) {
        return RunOutcome::interrupted;
    }
    throw_errno("KVM_RUN failed", errno);
}

kvm_regs Vcpu::regs() const {
    kvm_regs regs{};
    KVM_IOCTL(fd_.get(), KVM_GET_REGS, &regs);
    return regs;
}

void Vcpu::set_regs(const kvm_regs& regs) {
    KVM_IOCTL(fd_.get(), KVM_SET_REGS, &regs);
}

kvm_sregs Vcpu::sregs() const {
    kvm_sregs sregs{};
    KVM_IOCTL(fd_.get(), KVM_GET_SREGS, &sregs);
    return sregs;
}

void Vcpu::set_sregs(const kvm_sregs& sregs) {
    KVM_IOCTL(fd_.get(), KVM_SET_SREGS, &sregs);
}

kvm_fpu Vcpu::fpu() const {
    kvm_fpu fpu{};
    KVM_IOCTL(fd_.get(), KVM_GET_FPU, &fpu);
    return fpu;
}

void Vcpu::set_fpu(const kvm_fpu& fpu) {
    KVM_IOCTL(fd_.get(), KVM_SET_FPU, &fpu);
}

bool Vcpu::pre_fault_memory(std::uint64_t gpa, std::uint64_t size) {
    PreFaultMemory range{gpa, size, 0, {}};
    // KVM may stop early (a signal, a race with a memory slot change, a large range):
    // it then says where, in `range`, and a call again goes on from there.
    while (range.size > 0) {
        if (::ioctl(fd_.get(), ioctl_pre_fault_memory, &range) == 0) {
            continue;
        }
        if (errno == EINTR || errno == EAGAIN) {
            continue;
        }
        if (errno == EOPNOTSUPP) {
            return false;
        }
        throw_errno(fmt::format("KVM_PRE_FAULT_MEMORY at guest address {:#x} failed", range.gpa),
                    errno);
    }
    return true;
}

void Vcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
    const std::size_t bytes = sizeof(kvm_cpuid2) + entries.size() * sizeof(kvm_cpuid_entry2);
    auto buffer = std::make_unique<std::uint8_t[]>(bytes);
    auto* cpuid = reinterpret_cast<kvm_cpuid2*>(buffer.get());
    cpuid->nent = static_cast<std::uint32_t>(entries.size());
    std::copy(entries.begin(), entries.end(), cpuid->entries);
    KVM_IOCTL(fd_.get(), KVM_SET_CPUID2, cpuid);
}

void Vcpu::set_msrs(const std::vector<kvm_msr_entry>& entries) {
    const std::size_t bytes = sizeof(kvm_msrs) + entries.size() * sizeof(kvm_msr_entry);
    auto buffer = std::make_unique<std::uint8_t[]>(bytes);
    auto* msrs = reinterpret_cast<kvm_msrs*>(buffer.get());
    msrs->nmsrs = static_cast<std::uint32_t>(entries.size());
    std::copy(entries.begin(), entries.end(), msrs->entries);
    // KVM_SET_MSRS returns how many it set; it stops at the first one it rejects.
    const int set = KVM_IOCTL(fd_.get(), KVM_SET_MSRS, msrs);
    if (set != static_cast<int>(entries.size())) {
        throw Error(fmt::format("KVM_SET_MSRS rejected MSR {:#x} ({} of {} set)",
                                entries[static_cast<std::size_t>(set)].index, set, entries.size()));
    }
}

kvm_lapic_state Vcpu::lapic() const {
    kvm_lapic_state lapic{};
    KVM_IOCTL(fd_.get(), KVM_GET_LAPIC, &lapic);
    return lapic;
}

void Vcpu::set_lapic(const kvm_lapic_state& lapic) {
    KVM_IOCTL(fd_.get(), KVM_SET_LAPIC, &lapic);
}

std::vector<kvm_msr_entry> Vcpu::readable_msrs(const std::vector<std::uint32_t>& indices) const {
    const std::size_t bytes = sizeof(kvm_msrs) + indices.size() * sizeof(kvm_msr_entry);
    auto buffer = std::make_unique<std::uint8_t[]>(bytes);
    auto* msrs = reinterpret_cast<kvm_msrs*>(buffer.get());
    std::vector<kvm_msr_entry> read;
    // KVM_GET_MSRS stops at the first MSR it cannot read and returns how many it read:
    // skip that one and go on after it.
    std::size_t next = 0;
    while (next < indices.size()) {
        msrs->nmsrs = static_cast<std::uint32_t>(indices.size() - next);
        for (std::size_t i = next; i < indices.size(); ++i) {
            msrs->entries[i - next] = kvm_msr_entry{indices[i], 0, 0};
        }
        const auto count = static_cast<std::size_t>(KVM_IOCTL(fd_.get(), KVM_GET_MSRS, msrs));
        read.insert(read.end(), msrs->entries, msrs->entries + count);
        next += count + 1;
    }
    return read;
}

kvm_xsave Vcpu::xsave() const {
    kvm_xsave xsave{};
    KVM_IOCTL(fd_.get(), KVM_GET_XSAVE, &xsave);
    return xsave;
}

void Vcpu::set_xsave(const kvm_xsave& xsave) {
    KVM_IOCTL(fd_.get(), KVM_SET_XSAVE, &xsave);
}

kvm_xcrs Vcpu::xcrs() const {
    kvm_xcrs xcrs{};
    KVM_IOCTL(fd_.get(), KVM_GET_XCRS, &xcrs);
    return xcrs;
}

void Vcpu::set_xcrs(const kvm_xcrs& xcrs) {
    KVM_IOCTL(fd_.get(), KVM_SET_XCRS, &xcrs);
}

kvm_vcpu_events Vcpu::events() const {
    kvm_vcpu_events events{};
    KVM_IOCTL(fd_.get(), KVM_GET_VCPU_EVENTS, &events);
    return events;
}

void Vcpu::set_events(const kvm_vcpu_events& events) {
    KVM_IOCTL(fd_.get(), KVM_SET_VCPU_EVENTS, &events);
}

kvm_debugregs Vcpu::debugregs() const {
    kvm_debugregs debugregs{};
    KVM_IOCTL(fd_.get(), KVM_GET_DEBUGREGS, &debugregs);
    return debugregs;
}

void Vcpu::set_debugregs(const kvm_debugregs& debugregs) {
    KVM_IOCTL(fd_.get(), KVM_SET_DEBUGREGS, &debugregs);
}

kvm_mp_state Vcpu::mp_state() const {
    kvm_mp_state state{};
    KVM_IOCTL(fd_.get(), KVM_GET_MP_STATE, &state);
    return state;
}

void Vcpu::set_mp_state(const kvm_mp_state& state) {
    KVM_IOCTL(fd_.get(), KVM_SET_MP_STATE, &state);
}

const char* exit_reason_name(std::uint32_t reason) {
    switch (reason) {
        case KVM_EXIT_UNKNOWN:
            return "UNKNOWN";
        case KVM_EXIT_EXCEPTION:
            return "EXCEPTION";
        case KVM_EXIT_IO:
            return "IO";
        case KVM_EXIT_HYPERCALL:
            return "HYPERCALL";
        case KVM_EXIT_DEBUG:
            return "DEBUG";
        case KVM_EXIT_HLT:
            return "HLT";
        case KVM_EXIT_MMIO:
            return "MMIO";
        case KVM_EXIT_IRQ_WINDOW_OPEN:
            return "IRQ_WINDOW_OPEN";
        case KVM_EXIT_SHUTDOWN:
            return "SHUTDOWN";
        case KVM_EXIT_FAIL_ENTRY:
            return "FAIL_ENTRY";
        case KVM_EXIT_INTR:
            return "INTR";
        case KVM_EXIT_SET_TPR:
            return "SET_TPR";
        case KVM_EXIT_TPR_ACCESS:
            return "TPR_ACCESS";
        case KVM_EXIT_NMI:
            return "NMI";
        case KVM_EXIT_INTERNAL_ERROR:
            return "INTERNAL_ERROR";
        case KVM_EXIT_SYSTEM_EVENT:
            return "SYSTEM_EVENT";
        case KVM_EXIT_IOAPIC_EOI:
            return "IOAPIC_EOI";
        case KVM_EXIT_X86_RDMSR:
            return "X86_RDMSR";
        case KVM_EXIT_X86_WRMSR:
            return "X86_WRMSR";
        default:
            return "OTHER";
    }
}

}  // namespace berth::kvm
