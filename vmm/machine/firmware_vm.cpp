#include "vmm/machine/firmware_vm.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "devices/misc/debug_exit.hpp"
#include "devices/misc/fw_cfg.hpp"
#include "devices/misc/mmio_echo.hpp"
#include "devices/misc/pv_console.hpp"
#include "devices/misc/qemu_debug_exit.hpp"
#include "devices/serial/uart_8250.hpp"
#include "vmm/boot/firmware.hpp"
#include "vmm/boot/firmware_header.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/size.hpp"
#include "vmm/kvm/system.hpp"
#include "vmm/kvm/vcpu.hpp"
#include "vmm/kvm/vm.hpp"
#include "vmm/machine/vcpu_loop.hpp"
#include "vmm/memory/guest_memory.hpp"
#include "vmm/memory/platform_layout.hpp"

namespace berth::machine {

namespace {

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
        throw bad_input(fmt::format(
            "memory {} is too small: a real-mode guest needs at least {}; give it that or more",
            format_size(options.memory_size), format_size(boot::firmware_min_memory)));
    }
    if (options.memory_size % 4096 != 0) {
        throw bad_input(fmt::format(
            "memory {} bytes is not a multiple of 4 KiB; give a whole number of 4 KiB pages",
            options.memory_size));
    }
    // RAM must end below the mmio echo device and the TSS pages.
    if (options.memory_size > layout::mmio_echo_address) {
        throw bad_input(
            fmt::format("memory {} is too large for the firmware machine: RAM must end "
                        "below {:#x}, where its MMIO device lives; give it at most {}",
                        format_size(options.memory_size), layout::mmio_echo_address,
                        format_size(layout::mmio_echo_address)));
    }
}

// The machine, and what its vCPU loop does differently from the Linux machine's: it
// ends at the debug-exit write or at `hlt` with interrupts off. One vCPU, no threads.
class FirmwareMachine final : private ExitHooks {
public:
    FirmwareMachine(const FirmwareVmOptions& options, const boot::Firmware& firmware,
                    boot::FirmwareFeatures features, std::shared_ptr<devices::FwCfg> fw_cfg,
                    std::unique_ptr<ExitTraceWriter> trace)
        : options_(options), kvm_(kvm::System::open()), vm_(kvm_.create_vm()) {
        timing_.timed = options.trace_exits == TraceExits::on || trace != nullptr;
        timing_.trace = std::move(trace);
        // Intel VT needs a few pages of guest-physical space for real-mode emulation.
        vm_.set_tss_address(layout::tss_address);
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

        buses_.ports.attach(
            layout::com1_port, devices::Uart8250::register_count,
            std::make_shared<devices::Uart8250>("serial 8250 (COM1)", [](std::uint8_t byte) {
                write_stdout(std::span(&byte, 1));
            }));
        buses_.ports.attach(layout::debug_exit_port, devices::DebugExit::register_count,
                            debug_exit_);
        if (options.qemu_debug_exit == QemuDebugExit::on) {
            buses_.ports.attach(layout::qemu_debug_exit_port,
                                devices::QemuDebugExit::register_count,
                                std::make_shared<devices::QemuDebugExit>(debug_exit_));
        }
        buses_.ports.attach(layout::fw_cfg_port, devices::FwCfg::register_count, std::move(fw_cfg));
        buses_.ports.attach(layout::pv_console_port, devices::PvConsole::register_count,
                            std::make_shared<devices::PvConsole>(memory_, write_stdout));
        buses_.mmio.attach(layout::mmio_echo_address, devices::MmioEcho::size,
                           std::make_shared<devices::MmioEcho>());

        vcpu_.emplace(vm_.create_vcpu(0));
        // A CPU that admits to its features: long mode (lesson 3) needs CPUID to report
        // LM, or KVM refuses the guest's write of EFER.LME.
        vcpu_->set_cpuid(kvm_.supported_cpuid());
        enter_real_mode_at_load_address(*vcpu_);
        if (timing_.trace) {
            timing_.trace->add_vcpu(0);
        }
    }

    int run() {
        try {
            // The machine is built: from here on its one thread runs the guest.
            sandbox::VmmSandbox(options_.seccomp).confine_this_thread("firmware");
            run_vcpu_loop(*vcpu_, 0, stats_, {buses_, *debug_exit_, timing_, *this});
        } catch (...) {
            report(Ending::failure);
            throw;
        }
        report(Ending::normal);
        return *status_;
    }

private:
    enum class Ending { normal, failure };

    bool stopped() const override { return status_.has_value(); }
    void debug_exit_requested(int status) override { status_ = status; }
    void halted(const kvm::Vcpu& vcpu) override {
        if ((vcpu.regs().rflags & rflags_interrupt_enable) == 0) {
            status_ = 0;
            return;
        }
        throw Error(
            "guest halted with interrupts enabled, but this machine has no interrupt "
            "source to wake it; end the firmware with `cli` then `hlt`, or give it the "
            "irqchip header (guest-firmware/include/header.inc)");
    }
    bool system_event(std::uint32_t) override { return false; }

    void report(Ending ending) {
        if (options_.trace_exits == TraceExits::on) {
            std::fputs(stats_.table().c_str(), stderr);
        }
        if (!timing_.trace) {
            return;
        }
        if (ending == Ending::normal) {
            timing_.trace->finish();
            return;
        }
        try {
            timing_.trace->finish();
        } catch (const Error& e) {
            // The guest's failure is the error to report; mention the trace's too.
            std::fprintf(stderr, "berth: %s\n", one_line(e.what()).c_str());
        }
    }

    const FirmwareVmOptions& options_;
    ExitTiming timing_;
    ExitStats stats_;
    std::optional<int> status_;  // set when the guest is done
    kvm::System kvm_;
    kvm::Vm vm_;
    memory::GuestRam memory_;
    Buses buses_;
    std::shared_ptr<devices::DebugExit> debug_exit_ = std::make_shared<devices::DebugExit>();
    std::optional<kvm::Vcpu> vcpu_;
};

}  // namespace

int run_firmware_vm(const FirmwareVmOptions& options) {
    validate(options);
    const boot::Firmware firmware = boot::read_firmware(options.firmware, options.memory_size);
    const boot::FirmwareFeatures features =
        boot::read_firmware_features(firmware.image, options.firmware);
    auto fw_cfg = make_fw_cfg(options.fw_cfg_files, options.memory_size, 1);
    std::unique_ptr<ExitTraceWriter> trace;
    if (!options.trace_file.empty()) {
        trace = ExitTraceWriter::create(
            options.trace_file,
            fmt::format("berth firmware {}", options.firmware.filename().string()));
    }
    FirmwareMachine machine(options, firmware, features, std::move(fw_cfg), std::move(trace));
    return machine.run();
}

}  // namespace berth::machine
