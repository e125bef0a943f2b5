#include "vmm/machine/vcpu_loop.hpp"

#include <string>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/machine/io_dispatch.hpp"
#include "vmm/machine/mmio_dispatch.hpp"
#include "vmm/machine/register_dump.hpp"

namespace berth::machine {

namespace {

Error guest_died(const std::string& what, const kvm::Vcpu& vcpu, std::uint32_t index) {
    return Error(fmt::format("{} on vCPU {}; registers:\n{}", what, index, register_dump(vcpu)));
}

}  // namespace

void run_vcpu_loop(kvm::Vcpu& vcpu, std::uint32_t index, ExitStats& stats,
                   const VcpuLoopMachine& machine) {
    kvm_run& run = vcpu.run_state();
    while (!machine.hooks.stopped()) {
        if (vcpu.run() == kvm::RunOutcome::interrupted) {
            machine.hooks.interrupted(vcpu);
            continue;
        }
        const ExitTimer timer(machine.timing, run, index, stats, machine.buses);
        stats.count_exit(run.exit_reason);
        switch (run.exit_reason) {
            case KVM_EXIT_IO:
                machine.hooks.port_access(run.io.port);
                dispatch_io(vcpu.run_area(), machine.buses.ports, stats);
                if (const auto status = machine.debug_exit.requested_status()) {
                    machine.hooks.debug_exit_requested(*status);
                }
                break;
            case KVM_EXIT_MMIO:
                dispatch_mmio(run, machine.buses.mmio, stats);
                break;
            case KVM_EXIT_HLT:
                machine.hooks.halted(vcpu);
                break;
            case KVM_EXIT_SYSTEM_EVENT:
                if (!machine.hooks.system_event(run.system_event.type)) {
                    throw guest_died(fmt::format("guest system event {}", run.system_event.type),
                                     vcpu, index);
                }
                break;
            case KVM_EXIT_SHUTDOWN:
                throw guest_died("guest triple-faulted (KVM_EXIT_SHUTDOWN)", vcpu, index);
            case KVM_EXIT_FAIL_ENTRY:
                throw guest_died(
                    fmt::format("KVM could not enter the guest (hardware reason {:#x})",
                                run.fail_entry.hardware_entry_failure_reason),
                    vcpu, index);
            case KVM_EXIT_INTERNAL_ERROR:
                throw guest_died(
                    fmt::format("KVM internal error (suberror {})", run.internal.suberror), vcpu,
                    index);
            default:
                throw guest_died(
                    fmt::format("unexpected VM exit {} ({})",
                                kvm::exit_reason_name(run.exit_reason), run.exit_reason),
                    vcpu, index);
        }
    }
}

}  // namespace berth::machine
