#pragma once
// The one vCPU loop of every berth machine (firmware_vm, linux_vm): KVM_RUN, then one
// switch over the exit reason. What every machine does alike is here: port I/O to the
// port bus, MMIO to the MMIO bus (the Linux machine's PCI window is a device on it),
// the debug-exit port, counting each exit (ExitStats), timing and tracing it when asked
// (ExitTimer), and a register dump when the guest dies. What differs between machines
// is their ExitHooks: when the run is over, what `hlt` and a system event mean, and
// what a port access marks on its way to the bus.
//
// Per exit the loop allocates nothing, builds no string and reads no clock unless a
// trace or the timed --trace-exits table asked for it (ExitTiming::timed); the hooks
// are called the same way (no ioctl, no lock on the common paths).

#include <cstdint>

#include "devices/misc/debug_exit.hpp"
#include "vmm/kvm/vcpu.hpp"
#include "vmm/machine/buses.hpp"
#include "vmm/machine/exit_stats.hpp"
#include "vmm/machine/exit_timer.hpp"

namespace berth::machine {

class ExitHooks {
public:
    virtual ~ExitHooks() = default;
    // Checked before each KVM_RUN: true once the machine is over.
    virtual bool stopped() const = 0;
    // KVM_RUN returned without an exit (a signal, or immediate_exit set by a kick):
    // where a paused machine parks its vCPU (VmStop::park_while_paused).
    virtual void interrupted(kvm::Vcpu&) {}
    // A port access, before the port bus dispatches it.
    virtual void port_access(std::uint16_t) {}
    // The guest has written `status` to the debug-exit port (asked after every port exit).
    virtual void debug_exit_requested(int status) = 0;
    // `hlt` reached berth: without an in-kernel irqchip, or a LAPIC that passed it on.
    virtual void halted(const kvm::Vcpu& vcpu) = 0;
    // KVM_EXIT_SYSTEM_EVENT of `type` (KVM_SYSTEM_EVENT_*); false for one the machine
    // does not know, which kills the guest with a register dump.
    virtual bool system_event(std::uint32_t type) = 0;
};

// What all vCPUs of one machine share.
struct VcpuLoopMachine {
    const Buses& buses;
    const devices::DebugExit& debug_exit;
    ExitTiming& timing;
    ExitHooks& hooks;
};

// Runs vCPU `index` until hooks.stopped(). Throws when the guest dies (triple fault,
// failed entry, KVM internal error, an exit berth does not handle: the message names
// the vCPU and dumps its registers) or the host fails.
void run_vcpu_loop(kvm::Vcpu& vcpu, std::uint32_t index, ExitStats& stats,
                   const VcpuLoopMachine& machine);

}  // namespace berth::machine
