#pragma once
// A virtual CPU: its fd, its shared kvm_run area, and register access.

#include "vmm/kvm/kvm_abi.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

#include "vmm/common/unique_fd.hpp"

namespace berth::kvm {

// The kvm_run structure KVM shares with user space for one vCPU (mmap of the vCPU
// fd), and its size: port I/O data lives inside the mapping past the structure, and
// the vCPU loop checks KVM's offsets against the size it mapped, not an ioctl per exit.
// Unmapped when the owner goes away.
class RunArea {
public:
    RunArea(int vcpu_fd, std::size_t size);
    ~RunArea();
    RunArea(RunArea&& other) noexcept;
    RunArea& operator=(RunArea&&) = delete;
    RunArea(const RunArea&) = delete;
    RunArea& operator=(const RunArea&) = delete;

    kvm_run& get() const { return *run_; }
    std::size_t size() const { return size_; }

private:
    kvm_run* run_;
    std::size_t size_;
};

enum class RunOutcome {
    exited,       // the guest exited to us; kvm_run::exit_reason says why
    interrupted,  // a signal (or immediate_exit) stopped KVM_RUN before or during guest entry
};

class Vcpu {
public:
    Vcpu(UniqueFd fd, std::size_t run_size) : fd_(std::move(fd)), run_area_(fd_.get(), run_size) {}

    RunOutcome run();
    kvm_run& run_state() const { return run_area_.get(); }
    const RunArea& run_area() const { return run_area_; }

    kvm_regs regs() const;
    void set_regs(const kvm_regs& regs);
    kvm_sregs sregs() const;
    void set_sregs(const kvm_sregs& sregs);
    kvm_fpu fpu() const;
    void set_fpu(const kvm_fpu& fpu);
    void set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
    // KVM_SET_MSRS; throws unless every MSR was accepted.
    void set_msrs(const std::vector<kvm_msr_entry>& entries);
    kvm_lapic_state lapic() const;
    void set_lapic(const kvm_lapic_state& lapic);

    // The rest of a vCPU's state, for snapshots (vmm/machine/vcpu_snapshot.hpp). Read
    // only while the vCPU is outside KVM_RUN with no exit left half done.
    // KVM_GET_MSRS of `indices`, skipping the ones this vCPU cannot read back.
    std::vector<kvm_msr_entry> readable_msrs(const std::vector<std::uint32_t>& indices) const;
    kvm_xsave xsave() const;
    void set_xsave(const kvm_xsave& xsave);
    kvm_xcrs xcrs() const;
    void set_xcrs(const kvm_xcrs& xcrs);
    kvm_vcpu_events events() const;
    void set_events(const kvm_vcpu_events& events);
    kvm_debugregs debugregs() const;
    void set_debugregs(const kvm_debugregs& debugregs);
    kvm_mp_state mp_state() const;
    void set_mp_state(const kvm_mp_state& state);

    // KVM_PRE_FAULT_MEMORY over guest-physical [gpa, +size) (page aligned, inside a
    // memory slot): KVM maps each page in its nested page tables as a guest read fault
    // would (writable where the host's page already is), so the guest's first touch
    // costs no exit. Only when System::check_extension(cap_pre_fault_memory) says the
    // kernel has it. False when KVM refuses it for this VM (EOPNOTSUPP: no two-dimensional
    // paging); throws on any other failure.
    bool pre_fault_memory(std::uint64_t gpa, std::uint64_t size);

    int fd() const { return fd_.get(); }

private:
    UniqueFd fd_;
    RunArea run_area_;
};

// Readable name of a KVM_EXIT_* reason ("IO", "HLT", "MMIO", ...).
const char* exit_reason_name(std::uint32_t reason);

}  // namespace berth::kvm
