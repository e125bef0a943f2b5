#pragma once
// A restore's working set (docs/snapshots.md, "The working set"): the first restore
// of a snapshot records which pages of guest RAM it had in memory a while after the
// guest resumed (WorkingSetRecorder); later restores map those pages into KVM's nested
// page tables before the guest runs (pre_fault_working_set), so the guest's first
// touches of them cost no VM exit, and only they become resident up front.
// Both only on a kernel with KVM_PRE_FAULT_MEMORY (Linux 6.10+); elsewhere a restore
// is lazy as before and records nothing.

#include <chrono>
#include <filesystem>
#include <memory>
#include <span>

#include "vmm/common/file.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/kvm/vcpu.hpp"
#include "vmm/machine/working_set_file.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace berth::machine {

// How long after the vCPUs start a restore records its working set, unless the guest
// stops sooner: long enough for a restored guest to answer what it was waiting for
// (a request, a line of input), short enough that a guest that then runs for hours
// does not record all it ever touched.
inline constexpr std::chrono::milliseconds working_set_record_after{1000};

class WorkingSetRecorder {
public:
    // Made before the VMM sandbox confines the main thread, which may then neither
    // create nor open files: the temporary file beside dir/working-set and
    // /proc/self/pagemap are opened here. Nothing (no recording, no message) when the
    // directory is not writable or pagemap cannot be read.
    static std::unique_ptr<WorkingSetRecorder> start(const std::filesystem::path& dir);

    // Reads which pages of `memory` are in memory and renames the file into place
    // (replacing one a restore beside us wrote meanwhile: either is a whole file). Once:
    // later calls do nothing. A failure is one note on stderr, never an error of the VM.
    void record(const memory::GuestMemory& memory);

private:
    WorkingSetRecorder(OutputFile file, UniqueFd pagemap)
        : file_(std::move(file)), pagemap_(std::move(pagemap)) {}
    OutputFile file_;
    UniqueFd pagemap_;
    bool recorded_ = false;
};

// The runs of `memory` that are in memory now, as guest addresses.
std::vector<WorkingSetRun> resident_working_set(int pagemap_fd, const memory::GuestMemory& memory);

struct PreFaultResult {
    std::uint64_t pages = 0;          // mapped into KVM
    std::uint64_t written_pages = 0;  // of them, copied first so that KVM maps them writable
    bool refused = false;             // KVM refused pre-faulting for this VM: the rest stays lazy
};

// Gives each written run its private copy now (writable in the host's page tables), then
// has KVM map every run through `vcpu` (any vCPU: they share the nested page tables), so
// written pages are mapped writable and read ones read-only, as the guest left them.
// Call after the vCPU's state is restored and before it first runs.
PreFaultResult pre_fault_working_set(kvm::Vcpu& vcpu, memory::GuestRam& memory,
                                     std::span<const WorkingSetRun> runs);

}  // namespace berth::machine
