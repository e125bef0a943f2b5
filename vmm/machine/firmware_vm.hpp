#pragma once
// The smallest machine berth builds: one vCPU in real mode at 0000:7C00, RAM from
// address 0, and the devices the firmware lessons in guest-firmware/ talk to:
//   ports 0x3f8-0x3ff  COM1, an 8250 UART (lesson 1 onwards)
//   port  0x501        debug exit: writing v stops the machine with status v
//   port  0xf4         with --debug-exit 0xf4: QEMU's isa-debug-exit, status (v << 1) | 1
//   ports 0x510-0x511  fw_cfg, QEMU's firmware configuration (signature, RAM size, files)
//   ports 0x520-0x52b  pv console, a ring of buffers in guest RAM (lesson 6)
//   0xd0000000+4 KiB   mmio echo, on the MMIO bus (lesson 4)
// A firmware whose header asks for it (boot/firmware_header.hpp; lesson 5) also gets
// KVM's in-kernel irqchip (PIC, IOAPIC, LAPIC) and PIT.
//
// The machine stops when the guest halts with interrupts disabled (status 0), or
// writes the debug exit port. With the in-kernel irqchip KVM handles `hlt` itself and
// never tells berth, so such firmware must end through the debug exit port.

#include <cstdint>
#include <filesystem>
#include <vector>

#include "vmm/machine/fw_cfg_files.hpp"
#include "vmm/sandbox/thread_sandbox.hpp"

namespace berth::machine {

enum class TraceExits { off, on };
// `--debug-exit 0xf4`: QEMU's isa-debug-exit at port 0xf4 too (devices/misc/qemu_debug_exit),
// in both machines; berth's own port 0x501 is always there.
enum class QemuDebugExit { off, on };

struct FirmwareVmOptions {
    std::filesystem::path firmware;
    std::uint64_t memory_size = 16ULL << 20;
    TraceExits trace_exits = TraceExits::off;
    QemuDebugExit qemu_debug_exit = QemuDebugExit::off;
    std::vector<FwCfgFileSpec> fw_cfg_files;  // --fw-cfg
    // Where to write the Chrome trace-event JSON of every exit; empty for none.
    std::filesystem::path trace_file;
    // --seccomp: the vCPU (the main thread here) confined once the machine is built.
    sandbox::Seccomp seccomp = sandbox::Seccomp::on;
};

// Validates the options (bad input throws before KVM is touched), runs the guest and
// returns berth's exit status: 0 when the guest halted cleanly, the value it wrote
// when it used the debug exit port.
int run_firmware_vm(const FirmwareVmOptions& options);

}  // namespace berth::machine
