#pragma once
// Turns a KVM_EXIT_IO into bus accesses. KVM leaves the data in the kvm_run page at
// io.data_offset: for OUT we pass it to the device, for IN the device fills it and KVM
// copies it into the guest's register (or memory, for string I/O) on the next KVM_RUN.

#include "vmm/kvm/kvm_abi.hpp"

#include "devices/bus/port_io_bus.hpp"
#include "vmm/machine/exit_stats.hpp"

namespace berth::machine {

void dispatch_io(kvm_run& run, std::size_t run_size, const devices::PortIoBus& bus,
                 ExitStats& stats);

}  // namespace berth::machine
