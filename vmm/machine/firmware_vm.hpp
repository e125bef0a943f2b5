#pragma once
// The smallest machine berth builds: one vCPU in real mode, RAM from address 0, and a
// COM1 serial port. It runs the flat firmware programs in guest-firmware/ and stops
// when the guest halts with interrupts disabled.

#include <cstdint>
#include <filesystem>

namespace berth::machine {

enum class TraceExits { off, on };

struct FirmwareVmOptions {
    std::filesystem::path firmware;
    std::uint64_t memory_size = 16ULL << 20;
    TraceExits trace_exits = TraceExits::off;
};

// Validates the options (bad input throws before KVM is touched), runs the guest and
// returns berth's exit status: 0 when the guest halted cleanly.
int run_firmware_vm(const FirmwareVmOptions& options);

}  // namespace berth::machine
