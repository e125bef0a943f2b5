#pragma once
// Turns a KVM_EXIT_MMIO into a bus access. KVM has already decoded the guest's
// instruction: run.mmio holds the guest-physical address, the width (1-8 bytes) and,
// for a write, the data. For a read berth fills run.mmio.data and KVM completes the
// instruction (puts the value in the register) on the next KVM_RUN.

#include "vmm/kvm/kvm_abi.hpp"

#include "devices/bus/mmio_bus.hpp"
#include "vmm/machine/exit_stats.hpp"

namespace berth::machine {

void dispatch_mmio(kvm_run& run, const devices::MmioBus& bus, ExitStats& stats);

}  // namespace berth::machine
