#include "vmm/machine/firmware_vm.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "devices/bus/mmio_bus.hpp"
#include "devices/bus/port_io_bus.hpp"
#include "devices/misc/debug_exit.hpp"
#include "devices/misc/mmio_echo.hpp"
#include "devices/misc/pv_console.hpp"
#include "devices/serial/uart_8250.hpp"
#include "vmm/boot/firmware.hpp"
#include "vmm/boot/firmware_header.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/size.hpp"
#include "vmm/kvm/system.hpp"
#include "vmm/kvm/vcpu.hpp"
#include "vmm/kvm/vm.hpp"
#include "vmm/machine/exit_stats.hpp"
#include "vmm/machine/exit_trace.hpp"
#include "vmm/machine/io_dispatch.hpp"
#include "vmm/machine/mmio_dispatch.hpp"
#include "vmm/machine/register_dump.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace berth::machine {

namespace {

constexpr std::uint16_t com1_base = 0x3f8;
// Intel VT needs a few pages of guest-physical space for real-mode emulation;
// this is where PC firmware conventionally leaves them, just below the BIOS ROM.
constexpr std::uint64_t tss_address = 0xfffbd000;
constexpr std::uint64_t rflags_interrupt_enable = 1ULL << 9;

void write_stdout(std::span<const std::uint8_t> bytes) {
    // Unbuffered on purpose: what the guest printed is visible even if berth dies.
    while (!bytes.empty()) {
        const ssize_t written = ::write(STDOUT_FILENO, bytes.data(), bytes.size());
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;  // stdout is gone (closed pipe); the guest keeps running
        }
        bytes = bytes.subspan(static_cast<std::size_t>(written));
    }
}

// Real mode, CS:IP = 0000:7C00, as a BIOS leaves the CPU for a boot sector.
void enter_real_mode_at_load_address(kvm::Vcpu& vcpu) {
    kvm_sregs sregs = vcpu.sregs();
    for (kvm_segment* segment :
         {&sregs.cs, &sregs.ds, &sregs.es, &sregs.fs, &sregs.gs, &sregs.ss}) {
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

void validate(const FirmwareVmOptions& options) {
    if (options.memory_size < boot::firmware_min_memory) {
        throw bad_input(fmt::format("--memory {} is too small: a real-mode guest needs at least {}",
                                    format_size(options.memory_size),
                                    format_size(boot::firmware_min_memory)));
    }
    if (options.memory_size % 4096 != 0) {
        throw bad_input(
            fmt::format("--memory {} bytes is not a multiple of 4 KiB", options.memory_size));
    }
    // RAM must end below the mmio echo device and the TSS pages.
    if (options.memory_size > devices::MmioEcho::default_base) {
        throw bad_input(
            fmt::format("--memory {} is too large for the firmware machine: RAM "
                        "must end below {:#x}, where its MMIO device lives",
                        format_size(options.memory_size), devices::MmioEcho::default_base));
    }
}

// The machine and its vCPU loop. One vCPU, so no threads and no locks.
class FirmwareMachine {
public:
    FirmwareMachine(const FirmwareVmOptions& options, const boot::Firmware& firmware,
                    boot::FirmwareFeatures features, std::unique_ptr<ExitTraceWriter> trace)
        : options_(options),
          trace_(std::move(trace)),
          timed_(options.trace_exits == TraceExits::on || trace_ != nullptr),
          kvm_(kvm::System::open()),
          vm_(kvm_.create_vm()) {
        vm_.set_tss_address(tss_address);
        if (features.irqchip == boot::InKernelIrqchip::yes) {
            // Both must exist before the vCPU: the vCPU's LAPIC is created with it.
            vm_.create_irqchip();
            vm_.create_pit2();
        }
        memory_.add_ram(0, options.memory_size);
        for (std::uint32_t slot = 0; slot < memory_.regions().size(); ++slot) {
            const auto& region = memory_.regions()[slot];
            vm_.set_user_memory_region(slot, region.guest_address, region.size(),
                                       region.mapping.data());
        }
        boot::load_firmware(firmware, memory_);

        ports_.attach(
            com1_base, devices::Uart8250::register_count,
            std::make_shared<devices::Uart8250>("serial 8250 (COM1)", [](std::uint8_t byte) {
                write_stdout(std::span(&byte, 1));
            }));
        ports_.attach(devices::DebugExit::default_port, devices::DebugExit::register_count,
                      debug_exit_);
        ports_.attach(devices::PvConsole::default_port, devices::PvConsole::register_count,
                      std::make_shared<devices::PvConsole>(memory_, write_stdout));
        mmio_.attach(devices::MmioEcho::default_base, devices::MmioEcho::size,
                     std::make_shared<devices::MmioEcho>());

        vcpu_.emplace(vm_.create_vcpu(0));
        // A CPU that admits to its features: long mode (lesson 3) needs CPUID to report
        // LM, or KVM refuses the guest's write of EFER.LME.
        vcpu_->set_cpuid(kvm_.supported_cpuid());
        enter_real_mode_at_load_address(*vcpu_);
        if (trace_) {
            trace_->add_vcpu(0);
        }
    }

    int run() {
        kvm_run& run = vcpu_->run_state();
        for (;;) {
            if (vcpu_->run() == kvm::RunOutcome::interrupted) {
                continue;
            }
            // No clock read at all unless a trace or the timed table was asked for.
            const std::uint64_t start = timed_ ? clock_.now_ns() : 0;
            stats_.count_exit(run.exit_reason);
            std::optional<int> status;
            try {
                status = handle_exit(run);
            } catch (...) {
                record_exit(run, start);
                report(Ending::failure);
                throw;
            }
            record_exit(run, start);
            if (status) {
                report(Ending::normal);
                return *status;
            }
        }
    }

private:
    enum class Ending { normal, failure };

    // Returns the machine's exit status when this exit ends the run.
    std::optional<int> handle_exit(kvm_run& run) {
        switch (run.exit_reason) {
            case KVM_EXIT_IO:
                dispatch_io(run, kvm_.vcpu_mmap_size(), ports_, stats_);
                return debug_exit_->requested_status();
            case KVM_EXIT_MMIO:
                dispatch_mmio(run, mmio_, stats_);
                return std::nullopt;
            case KVM_EXIT_HLT:
                if ((vcpu_->regs().rflags & rflags_interrupt_enable) == 0) {
                    return 0;
                }
                throw Error(
                    "guest halted with interrupts enabled, but this machine has no interrupt "
                    "source to wake it; end the firmware with `cli` then `hlt`, or give it the "
                    "irqchip header (guest-firmware/include/header.inc)");
            case KVM_EXIT_SHUTDOWN:
                throw Error("guest triple-faulted (KVM_EXIT_SHUTDOWN); registers:\n" +
                            register_dump(*vcpu_));
            case KVM_EXIT_FAIL_ENTRY:
                throw Error(fmt::format(
                    "KVM could not enter the guest (hardware reason {:#x}); "
                    "registers:\n{}",
                    run.fail_entry.hardware_entry_failure_reason, register_dump(*vcpu_)));
            case KVM_EXIT_INTERNAL_ERROR:
                throw Error(fmt::format("KVM internal error (suberror {}); registers:\n{}",
                                        run.internal.suberror, register_dump(*vcpu_)));
            default:
                throw Error(fmt::format("unexpected VM exit {} ({}); registers:\n{}",
                                        kvm::exit_reason_name(run.exit_reason), run.exit_reason,
                                        register_dump(*vcpu_)));
        }
    }

    void record_exit(const kvm_run& run, std::uint64_t start) {
        if (!timed_) {
            return;
        }
        const std::uint64_t end = clock_.now_ns();
        stats_.add_time(run.exit_reason, end - start);
        if (trace_) {
            ExitEvent event = describe_exit(run);
            event.start_ns = start;
            event.duration_ns = end - start;
            if (event.access == ExitEvent::Access::port_in ||
                event.access == ExitEvent::Access::port_out) {
                const auto* device = ports_.device_at(static_cast<std::uint16_t>(event.address));
                event.device = device != nullptr ? device->name() : "";
            } else if (event.access != ExitEvent::Access::none) {
                const auto* device = mmio_.device_at(event.address);
                event.device = device != nullptr ? device->name() : "";
            }
            trace_->record(event);
        }
    }

    void report(Ending ending) {
        if (options_.trace_exits == TraceExits::on) {
            std::fputs(stats_.table().c_str(), stderr);
        }
        if (!trace_) {
            return;
        }
        if (ending == Ending::normal) {
            trace_->finish();
            return;
        }
        try {
            trace_->finish();
        } catch (const Error& e) {
            // The guest's failure is the error to report; mention the trace's too.
            std::fprintf(stderr, "berth: %s\n", e.what());
        }
    }

    const FirmwareVmOptions& options_;
    std::unique_ptr<ExitTraceWriter> trace_;
    const bool timed_;
    ExitClock clock_;
    ExitStats stats_;
    kvm::System kvm_;
    kvm::Vm vm_;
    memory::GuestRam memory_;
    devices::PortIoBus ports_;
    devices::MmioBus mmio_;
    std::shared_ptr<devices::DebugExit> debug_exit_ = std::make_shared<devices::DebugExit>();
    std::optional<kvm::Vcpu> vcpu_;
};

}  // namespace

int run_firmware_vm(const FirmwareVmOptions& options) {
    validate(options);
    const boot::Firmware firmware = boot::read_firmware(options.firmware, options.memory_size);
    const boot::FirmwareFeatures features =
        boot::read_firmware_features(firmware.image, options.firmware);
    std::unique_ptr<ExitTraceWriter> trace;
    if (!options.trace_file.empty()) {
        trace = ExitTraceWriter::create(
            options.trace_file,
            fmt::format("berth firmware {}", options.firmware.filename().string()));
    }
    FirmwareMachine machine(options, firmware, features, std::move(trace));
    return machine.run();
}

}  // namespace berth::machine
