#pragma once
// Turns a KVM_EXIT_IO into bus accesses. KVM leaves the data in the kvm_run area at
// io.data_offset: for OUT we pass it to the device, for IN the device fills it and KVM
// copies it into the guest's register (or memory, for string I/O) on the next KVM_RUN.

#include "devices/bus/port_io_bus.hpp"
#include "vmm/kvm/vcpu.hpp"
#include "vmm/machine/exit_stats.hpp"

namespace berth::machine {

void dispatch_io(const kvm::RunArea& run_area, const devices::PortIoBus& bus, ExitStats& stats);

}  // namespace berth::machine
