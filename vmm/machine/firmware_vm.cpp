#include "machine/firmware_vm.hpp"

#include <unistd.h>

#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "boot/firmware.hpp"
#include "bus/port_io_bus.hpp"
#include "common/error.hpp"
#include "common/size.hpp"
#include "kvm/system.hpp"
#include "kvm/vcpu.hpp"
#include "kvm/vm.hpp"
#include "machine/exit_stats.hpp"
#include "machine/io_dispatch.hpp"
#include "machine/register_dump.hpp"
#include "memory/guest_memory.hpp"
#include "serial/uart_8250.hpp"

namespace berth::machine {

namespace {

constexpr std::uint16_t com1_base = 0x3f8;
// Intel VT needs a few pages of guest-physical space for real-mode emulation;
// this is where PC firmware conventionally leaves them, just below the BIOS ROM.
constexpr std::uint64_t tss_address = 0xfffbd000;
constexpr std::uint64_t rflags_interrupt_enable = 1ULL << 9;

void write_stdout(std::uint8_t byte) {
    // Unbuffered on purpose: what the guest printed is visible even if berth dies.
    while (::write(STDOUT_FILENO, &byte, 1) < 0 && errno == EINTR) {
    }
}

// Real mode, CS:IP = 0000:7C00, as a BIOS leaves the CPU for a boot sector.
void enter_real_mode_at_load_address(kvm::Vcpu& vcpu) {
    kvm_sregs sregs = vcpu.sregs();
    for (kvm_segment* segment : {&sregs.cs, &sregs.ds, &sregs.es, &sregs.fs, &sregs.gs, &sregs.ss}) {
        segment->base = 0;
        segment->selector = 0;
    }
    vcpu.set_sregs(sregs);
    kvm_regs regs{};
    regs.rip = boot::firmware_load_address;
    regs.rsp = boot::firmware_load_address;  // the stack grows down below the code
    regs.rflags = 0x2;                       // bit 1 is reserved and always set
    vcpu.set_regs(regs);
}

}  // namespace

int run_firmware_vm(const FirmwareVmOptions& options) {
    if (options.memory_size < boot::firmware_min_memory) {
        throw bad_input(fmt::format("--memory {} is too small: a real-mode guest needs at least {}",
                                    format_size(options.memory_size),
                                    format_size(boot::firmware_min_memory)));
    }
    if (options.memory_size % 4096 != 0) {
        throw bad_input(fmt::format("--memory {} bytes is not a multiple of 4 KiB",
                                    options.memory_size));
    }
    const boot::Firmware firmware = boot::read_firmware(options.firmware, options.memory_size);

    const kvm::System kvm = kvm::System::open();
    kvm::Vm vm = kvm.create_vm();
    vm.set_tss_address(tss_address);

    memory::GuestMemory memory;
    memory.add_ram(0, options.memory_size);
    for (std::uint32_t slot = 0; slot < memory.regions().size(); ++slot) {
        const auto& region = memory.regions()[slot];
        vm.set_user_memory_region(slot, region.guest_address, region.size(),
                                  region.mapping.data());
    }
    boot::load_firmware(firmware, memory);

    devices::PortIoBus bus;
    bus.attach(com1_base, devices::Uart8250::register_count,
               std::make_shared<devices::Uart8250>("serial 8250 (COM1)", write_stdout));

    kvm::Vcpu vcpu = vm.create_vcpu(0);
    enter_real_mode_at_load_address(vcpu);

    ExitStats stats;
    auto print_trace = [&] {
        if (options.trace_exits == TraceExits::on) {
            std::fputs(stats.table().c_str(), stderr);
        }
    };
    const std::size_t run_size = kvm.vcpu_mmap_size();
    kvm_run& run = vcpu.run_state();
    for (;;) {
        if (vcpu.run() == kvm::RunOutcome::interrupted) {
            continue;
        }
        stats.count_exit(run.exit_reason);
        switch (run.exit_reason) {
            case KVM_EXIT_IO:
                dispatch_io(run, run_size, bus, stats);
                break;
            case KVM_EXIT_MMIO:
                // Nothing is mapped outside RAM in this machine: reads float high.
                if (!run.mmio.is_write) {
                    std::fill(std::begin(run.mmio.data), std::end(run.mmio.data), 0xff);
                }
                break;
            case KVM_EXIT_HLT: {
                print_trace();
                if ((vcpu.regs().rflags & rflags_interrupt_enable) == 0) {
                    return 0;
                }
                throw Error(
                    "guest halted with interrupts enabled, but this machine has no interrupt "
                    "source to wake it; end the firmware with `cli` then `hlt`");
            }
            case KVM_EXIT_SHUTDOWN:
                print_trace();
                throw Error("guest triple-faulted (KVM_EXIT_SHUTDOWN); registers:\n" +
                            register_dump(vcpu));
            case KVM_EXIT_FAIL_ENTRY:
                print_trace();
                throw Error(fmt::format("KVM could not enter the guest (hardware reason {:#x}); "
                                        "registers:\n{}",
                                        run.fail_entry.hardware_entry_failure_reason,
                                        register_dump(vcpu)));
            case KVM_EXIT_INTERNAL_ERROR:
                print_trace();
                throw Error(fmt::format("KVM internal error (suberror {}); registers:\n{}",
                                        run.internal.suberror, register_dump(vcpu)));
            default:
                print_trace();
                throw Error(fmt::format("unexpected VM exit {} ({}); registers:\n{}",
                                        kvm::exit_reason_name(run.exit_reason), run.exit_reason,
                                        register_dump(vcpu)));
        }
    }
}

}  // namespace berth::machine
