#include "vmm/machine/linux_vm.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "devices/legacy/i8042.hpp"
#include "devices/misc/debug_exit.hpp"
#include "devices/misc/fw_cfg.hpp"
#include "devices/misc/phase_port.hpp"
#include "devices/misc/pm_timer.hpp"
#include "devices/misc/qemu_debug_exit.hpp"
#include "devices/power/acpi_sleep_control.hpp"
#include "devices/serial/uart_8250.hpp"
#include "devices/virtio/console.hpp"
#include "vmm/api/api_server.hpp"
#include "vmm/boot/bzimage.hpp"
#include "vmm/boot/disk_boot.hpp"
#include "vmm/boot/kernel_format.hpp"
#include "vmm/boot/linux_layout.hpp"
#include "vmm/boot/multiboot.hpp"
#include "vmm/boot/pvh.hpp"
#include "vmm/boot/zero_page.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/phase_clock.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/size.hpp"
#include "vmm/common/thread.hpp"
#include "vmm/kvm/system.hpp"
#include "vmm/kvm/vcpu.hpp"
#include "vmm/kvm/vm.hpp"
#include "vmm/machine/console.hpp"
#include "vmm/machine/device_snapshot.hpp"
#include "vmm/machine/kvm_snapshot.hpp"
#include "vmm/machine/linux_snapshot.hpp"
#include "vmm/machine/pci_devices.hpp"
#include "vmm/machine/running_vm.hpp"
#include "vmm/machine/snapshot_file.hpp"
#include "vmm/machine/vcpu_loop.hpp"
#include "vmm/machine/vm_stop.hpp"
#include "vmm/machine/working_set.hpp"
#include "vmm/memory/guest_memory.hpp"
#include "vmm/memory/platform_layout.hpp"
#include "vmm/sandbox/thread_sandbox.hpp"
#include "vmm/x86/acpi.hpp"
#include "vmm/x86/cpu_state.hpp"
#include "vmm/x86/cpuid.hpp"
#include "vmm/x86/long_mode.hpp"

namespace berth::machine {

namespace {

// The MADT numbers APIC IDs with one byte.
constexpr std::uint32_t max_cpus = 255;

// A Multiboot kernel with its modules and where everything goes.
struct MultibootInputs {
    boot::MultibootKernel kernel;
    std::vector<boot::MultibootModule> modules;
    boot::MultibootPlan plan;
};

// A kernel entered through its PVH note with its initrd and where everything goes.
struct PvhInputs {
    boot::PvhKernel kernel;
    std::vector<std::uint8_t> initrd;
    boot::PvhPlan plan;
};

// Everything read from disk and checked before KVM is opened: a Linux bzImage with its
// initrd, a PVH kernel with its initrd, or a Multiboot kernel with its modules.
struct BootInputs {
    boot::BzImage kernel;
    std::vector<std::uint8_t> initrd;
    std::optional<boot::InitrdPlacement> initrd_place;
    std::string cmdline;
    std::optional<MultibootInputs> multiboot;  // set: `kernel` and the rest are unused
    std::optional<PvhInputs> pvh;              // set: `kernel` and the rest are unused
};

// Where the boot processor of a guest entered in 32-bit protected mode (Multiboot,
// PVH) starts, its EAX and its EBX.
struct ProtectedModeEntry {
    std::uint32_t entry;
    std::uint32_t eax;
    std::uint32_t ebx;
};

// A file for guest memory (a module, a PVH kernel's initrd), read whole: checked
// against the guest's memory by its size first, so a huge (sparse) file is refused
// without costing its size.
std::vector<std::uint8_t> read_guest_file(const std::filesystem::path& path,
                                          std::uint64_t memory_size) {
    const InputFile file = open_input_file(path, InputUse::read, InputKinds::regular_file,
                                           {"give the path of a readable file"});
    if (file.size > memory_size) {
        throw bad_input(
            fmt::format("is {}, larger than the guest's memory ({}); give "
                        "the guest more --memory",
                        format_size(file.size), format_size(memory_size)));
    }
    return read_all(file);
}

boot::MultibootModule read_module(const std::filesystem::path& path, std::string string,
                                  std::uint64_t memory_size) {
    const std::string name = path.string();
    try {
        return {name, std::move(string), read_guest_file(path, memory_size)};
    } catch (const Error& e) {
        throw e.with_context("cannot read module " + name);
    }
}

// The Multiboot boot: argv[0] is the kernel's path, the initrd is the first module.
MultibootInputs read_multiboot_inputs(const LinuxVmOptions& options,
                                      std::vector<std::uint8_t> file) {
    MultibootInputs inputs{boot::parse_multiboot(std::move(file), options.kernel.string()), {}, {}};
    if (options.initrd) {
        inputs.modules.push_back(
            read_module(*options.initrd, options.initrd->string(), options.memory_size));
    }
    for (const auto& module : options.modules) {
        std::string string = module.path.string();
        if (!module.arguments.empty()) {
            string += ' ' + module.arguments;
        }
        inputs.modules.push_back(read_module(module.path, std::move(string), options.memory_size));
    }
    std::string cmdline = options.kernel.string();
    if (!options.extra_cmdline.empty()) {
        cmdline += ' ' + options.extra_cmdline;
    }
    inputs.plan = boot::plan_multiboot(inputs.kernel, options.memory_size, cmdline, inputs.modules);
    return inputs;
}

// The PVH boot: the same command line as a bzImage's, the initrd as the first module.
PvhInputs read_pvh_inputs(const LinuxVmOptions& options, std::vector<std::uint8_t> file) {
    PvhInputs inputs{boot::parse_pvh_kernel(std::move(file), options.kernel.string()), {}, {}};
    std::string initrd_name;
    if (options.initrd) {
        initrd_name = options.initrd->string();
        try {
            inputs.initrd = read_guest_file(*options.initrd, options.memory_size);
        } catch (const Error& e) {
            throw e.with_context("cannot read initrd " + initrd_name);
        }
    }
    // The RSDP is the first of the ACPI tables (x86::build_acpi_tables; checked when
    // they are written).
    inputs.plan = boot::plan_pvh(inputs.kernel, options.memory_size, linux_cmdline(options, ""),
                                 inputs.initrd.size(), initrd_name, boot::acpi_tables_address);
    return inputs;
}

BootInputs read_boot_inputs(const LinuxVmOptions& options) {
    if (options.cpus == 0) {
        throw bad_input("cpus 0: a guest needs at least one vCPU; give 1 or more");
    }
    if (options.cpus > max_cpus) {
        throw bad_input(fmt::format("cpus {}: more than berth supports; give at most {}",
                                    options.cpus, max_cpus));
    }
    if (options.memory_size % 4096 != 0) {
        throw bad_input(fmt::format(
            "memory {} bytes is not a multiple of 4 KiB; give a whole number of 4 KiB pages",
            options.memory_size));
    }
    if (options.guest_pages == memory::PageSize::huge && options.memory_size % (2 << 20) != 0) {
        throw bad_input(
            fmt::format("memory {} is not a multiple of 2 MiB, the huge page size; give a "
                        "multiple of 2 MiB or use normal pages",
                        format_size(options.memory_size)));
    }
    // --image: the kernel and initrd come out of the disk image's /boot.
    std::optional<boot::ImageBootFiles> image;
    std::string image_options;
    if (options.image) {
        image = boot::read_image_boot_files(*options.image);
        image_options = image->cmdline;
    }
    std::vector<std::uint8_t> kernel_file;
    if (!image) {
        // A kernel runs in the RAM below the PCI hole: a larger file cannot be one.
        kernel_file = read_input_file(options.kernel, "kernel", layout::low_ram_limit);
        const boot::KernelFormat format = boot::detect_kernel_format(kernel_file);
        if (format == boot::KernelFormat::multiboot) {
            BootInputs inputs;
            inputs.multiboot = read_multiboot_inputs(options, std::move(kernel_file));
            return inputs;
        }
        if (format == boot::KernelFormat::pvh && options.modules.empty()) {
            BootInputs inputs;
            inputs.pvh = read_pvh_inputs(options, std::move(kernel_file));
            return inputs;
        }
        if (!options.modules.empty()) {
            throw bad_input(fmt::format(
                "--module {}: modules are for Multiboot kernels, and kernel {} is not one; "
                "give a Linux kernel its initramfs with --initrd",
                options.modules.front().path.string(), options.kernel.string()));
        }
    }
    BootInputs inputs{
        image ? boot::parse_bzimage(
                    std::move(image->kernel),
                    fmt::format("{} in disk image {}", quote(image->kernel_path), image->source))
              : boot::parse_bzimage(std::move(kernel_file), options.kernel.string()),
        {},
        std::nullopt,
        linux_cmdline(options, image_options),
        std::nullopt,
        std::nullopt};
    const boot::RamLayout layout = boot::RamLayout::for_size(options.memory_size);
    const std::uint64_t needed = inputs.kernel.runtime_end();
    if (layout.low_size < needed) {
        throw bad_input(fmt::format(
            "memory {} is too small for kernel {}: it decompresses up to {}; give the guest {} "
            "or more",
            format_size(options.memory_size), inputs.kernel.name, format_size(needed),
            format_size(((needed >> 20) + 16) << 20)));
    }
    LinuxVmOptions without_extra = options;
    without_extra.extra_cmdline.clear();
    boot::check_cmdline(inputs.kernel, inputs.cmdline,
                        linux_cmdline(without_extra, image_options).size());
    if (image && !image->initrd.empty()) {
        inputs.initrd = std::move(image->initrd);
        inputs.initrd_place = boot::place_initrd(
            inputs.kernel, options.memory_size, inputs.initrd.size(),
            fmt::format("{} in disk image {}", quote(image->initrd_path), image->source));
    } else if (options.initrd) {
        const std::string name = options.initrd->string();
        InputFile initrd;
        try {
            initrd = open_input_file(*options.initrd, InputUse::read, InputKinds::regular_file,
                                     {"give the path of a readable file"});
        } catch (const Error& e) {
            throw e.with_context("cannot read initrd " + name);
        }
        // Placed by its size before it is read: a huge (sparse) file is refused without
        // costing its size in memory.
        inputs.initrd_place =
            boot::place_initrd(inputs.kernel, options.memory_size, initrd.size, name);
        try {
            inputs.initrd = read_all(initrd);
        } catch (const Error& e) {
            throw e.with_context("cannot read initrd " + name);
        }
    }
    return inputs;
}

void write_boot_memory(memory::GuestMemory& memory, const BootInputs& inputs,
                       const LinuxVmOptions& options) {
    // PCI0 is described even with no PCI device: the kernel then finds configuration
    // mechanism #1 (the bus is always on port 0xcf8) and probes bus 0 only. Without
    // it the kernel needs pci=off, which prints "PCI: Fatal: No config space access
    // function found" on every boot; the early whole-bus scans are pci=noearly's job
    // (linux_base_cmdline). The RSDP at acpi_tables_address lies on a 16-byte boundary
    // in the BIOS area, where a kernel without a zero page (Multiboot) searches for it.
    // A Multiboot kernel gets the ACPI PM timer to measure time with; Linux has kvm-clock.
    // The power button is there only for a control API to press (PUT /vm/shutdown): a
    // guest without one would load its drivers for nothing.
    x86::AcpiDevices devices;
    devices.pci = x86::PciHostBridge{layout::pci_window_base, layout::pci_window_size};
    if (inputs.multiboot) {
        devices.pm_timer_port = layout::acpi_pm_timer_port;
    }
    if (!options.api_socket.empty()) {
        devices.power_button_gsi = layout::acpi_power_button_gsi;
    }
    const x86::AcpiTables acpi =
        x86::build_acpi_tables(boot::acpi_tables_address, options.cpus, devices);
    memory.write(boot::acpi_tables_address, acpi.bytes);
    if (inputs.multiboot) {
        boot::load_multiboot(inputs.multiboot->kernel, inputs.multiboot->modules,
                             inputs.multiboot->plan, memory);
        return;
    }
    if (inputs.pvh) {
        if (acpi.rsdp_address != boot::acpi_tables_address) {
            throw Error(
                fmt::format("berth's ACPI RSDP is at {:#x}, not at {:#x} where the PVH "
                            "start_info says",
                            acpi.rsdp_address, boot::acpi_tables_address));
        }
        boot::load_pvh(inputs.pvh->kernel, inputs.pvh->initrd, inputs.pvh->plan, memory);
        return;
    }
    boot::load_bzimage(inputs.kernel, memory);
    if (inputs.initrd_place) {
        memory.write(inputs.initrd_place->address, inputs.initrd);
    }
    const std::string& cmdline = inputs.cmdline;
    memory.write(
        boot::cmdline_address,
        std::span(reinterpret_cast<const std::uint8_t*>(cmdline.c_str()), cmdline.size() + 1));
    boot::ZeroPageInputs zero_page{options.memory_size, boot::cmdline_address, inputs.initrd_place,
                                   acpi.rsdp_address};
    memory.write_object(boot::zero_page_address, boot::build_zero_page(inputs.kernel, zero_page));
    x86::write_identity_page_tables(memory, boot::page_tables_address);
    x86::write_gdt(memory, boot::gdt_address);
}

void configure_vcpu(kvm::Vcpu& vcpu, std::uint32_t index, std::uint32_t count,
                    const std::vector<kvm_cpuid_entry2>& supported_cpuid,
                    const std::optional<ProtectedModeEntry>& protected_entry) {
    vcpu.set_cpuid(x86::guest_cpuid(supported_cpuid, index, count));
    vcpu.set_msrs(x86::initial_msrs());
    vcpu.set_fpu(x86::initial_fpu());
    kvm_lapic_state lapic = vcpu.lapic();
    x86::set_lint_pins(lapic);
    vcpu.set_lapic(lapic);
    if (index != 0) {
        return;  // application processors wait for INIT/SIPI from the kernel
    }
    kvm_sregs sregs = vcpu.sregs();
    if (protected_entry) {
        // Multiboot 0.6.96, 3.2 "Machine state", and PVH's (pvh.pandoc) alike:
        // protected mode, paging off, flat segments, interrupts off; Multiboot's magic
        // in EAX, the information (or start_info) in EBX. Both loaders put the flat GDT
        // at the start of their block, at the same address.
        static_assert(boot::multiboot_info_base == boot::pvh_info_base);
        x86::set_protected_mode_sregs(sregs, boot::multiboot_info_base, boot::flat_gdt,
                                      boot::flat_code_selector, boot::flat_data_selector);
        vcpu.set_sregs(sregs);
        kvm_regs regs{};
        regs.rip = protected_entry->entry;
        regs.rax = protected_entry->eax;
        regs.rbx = protected_entry->ebx;
        regs.rflags = 0x2;
        vcpu.set_regs(regs);
        return;
    }
    x86::set_long_mode_sregs(sregs, boot::gdt_address, boot::page_tables_address);
    vcpu.set_sregs(sregs);
    kvm_regs regs{};
    regs.rip = boot::kernel_load_address + boot::kernel_64bit_entry_offset;
    regs.rsi = boot::zero_page_address;
    regs.rsp = boot::boot_stack_top;
    regs.rflags = 0x2;  // interrupts off; bit 1 is reserved and always set
    vcpu.set_regs(regs);
}

// The Linux machine's side of the vCPU loop: it runs until VmStop says so, from any
// vCPU thread; `hlt` stays in the in-kernel LAPIC; the guest powers off and reboots
// through devices and KVM's system events.
struct Machine final : ExitHooks {
    Buses buses;
    std::shared_ptr<devices::DebugExit> debug_exit = std::make_shared<devices::DebugExit>();
    VmStop stop;
    ExitTiming timing;  // --trace and the timed --trace-exits table
    // `berth bench startup`'s marks (BERTH_PHASES; no-ops otherwise).
    FirstPhaseMark vcpu_entry{"vcpu_entry"};  // the first KVM_RUN
    // The kernel's serial console comes up: its first access to COM1 (with `quiet` it
    // may have nothing to print for a long while after that).
    FirstPhaseMark console{"console"};
    FirstPhaseMark console_output{"console_output"};  // the first byte sent to COM1
    FirstPhaseMark guest_init{"guest_init"};          // the guest's first write to the phase port
    FirstPhaseMark guest_exit{"guest_exit"};          // the guest's debug-exit write
    // The guest asked for a reset (i8042 pulse or KVM's reset event), not a power-off.
    std::atomic<bool> rebooted{false};

    void reboot() {
        rebooted = true;
        stop.request(0);
    }

    bool stopped() const override { return stop.requested(); }
    void port_access(std::uint16_t port) override {
        if (port >= layout::com1_port &&
            port < layout::com1_port + devices::Uart8250::register_count) {
            console.mark();
        }
    }
    void debug_exit_requested(int status) override {
        guest_exit.mark();
        stop.request(status);
    }
    void halted(const kvm::Vcpu&) override {}  // the in-kernel LAPIC handles hlt
    void interrupted(kvm::Vcpu& vcpu) override { stop.park_while_paused(vcpu.run_state()); }
    bool system_event(std::uint32_t type) override {
        if (type == KVM_SYSTEM_EVENT_RESET) {
            reboot();
            return true;
        }
        if (type == KVM_SYSTEM_EVENT_SHUTDOWN) {
            stop.request(0);
            return true;
        }
        return false;
    }
};

// One vCPU's thread: handles the exits that reach user space until the VM stops.
void run_vcpu(kvm::Vcpu& vcpu, std::uint32_t index, Machine& machine, ExitStats& stats) {
    machine.stop.add_vcpu(::pthread_self(), &vcpu.run_state());
    machine.vcpu_entry.mark();
    run_vcpu_loop(vcpu, index, stats,
                  {machine.buses, *machine.debug_exit, machine.timing, machine});
}

// Blocks the stop signals in this thread (and the threads it starts) so they arrive
// through a signalfd; restores the old mask on the way out.
class StopSignals {
public:
    StopSignals() {
        sigemptyset(&set_);
        for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) {
            sigaddset(&set_, signal_number);
        }
        ::pthread_sigmask(SIG_BLOCK, &set_, &old_);
        fd_.reset(::signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK));
        if (!fd_) {
            const int err = errno;
            ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
            throw_errno("cannot create a signalfd", err);
        }
    }
    ~StopSignals() {
        // Signals that arrived while blocked stay pending; drop them with the fd.
        fd_.reset();
        ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

    int fd() const { return fd_.get(); }

private:
    sigset_t set_;
    sigset_t old_;
    UniqueFd fd_;
};

// Joins the vCPU threads on every way out, stopping the VM first if need be.
class VcpuThreads {
public:
    explicit VcpuThreads(VmStop& stop) : stop_(stop) {}
    ~VcpuThreads() {
        stop_.request(0);  // no-op when already stopping
        for (auto& thread : threads_) {
            thread.join();
        }
    }
    VcpuThreads(const VcpuThreads&) = delete;
    VcpuThreads& operator=(const VcpuThreads&) = delete;

    template <typename F>
    void start(F&& body) {
        threads_.emplace_back("vcpu", std::forward<F>(body));
    }
    void join_all() {
        for (auto& thread : threads_) {
            thread.join();
        }
        threads_.clear();
    }

private:
    VmStop& stop_;
    std::vector<Thread> threads_;
};

// A job for the main thread while it waits: `run` once `after` has passed, unless the
// stop comes first.
struct WaitJob {
    std::chrono::milliseconds after{0};
    std::function<void()> run;
};

// Waits until the VM stops by itself or a stop signal arrives, doing `job` on the way.
void wait_for_stop(VmStop& stop, const StopSignals& signals, WaitJob job = {}) {
    const auto due = std::chrono::steady_clock::now() + job.after;
    for (;;) {
        pollfd fds[2] = {{stop.fd(), POLLIN, 0}, {signals.fd(), POLLIN, 0}};
        int timeout = -1;
        if (job.run) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(
                due - std::chrono::steady_clock::now());
            timeout = static_cast<int>(std::max<std::chrono::milliseconds::rep>(left.count(), 0));
        }
        const int ready = ::poll(fds, 2, timeout);
        if (ready == 0 && job.run) {
            std::exchange(job.run, nullptr)();
            continue;
        }
        if (ready < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_errno("poll failed", errno);
        }
        if ((fds[1].revents & POLLIN) != 0) {
            signalfd_siginfo info{};
            if (::read(signals.fd(), &info, sizeof info) == sizeof info) {
                stop.request(128 + static_cast<int>(info.ssi_signo));
            }
        }
        if (stop.requested()) {
            return;
        }
    }
}

}  // namespace

MultibootModuleSpec MultibootModuleSpec::parse(const std::string& value) {
    const auto comma = value.find(',');
    MultibootModuleSpec spec{value.substr(0, comma),
                             comma == std::string::npos ? "" : value.substr(comma + 1)};
    if (spec.path.empty()) {
        throw bad_input("no file before the comma; give FILE[,ARGS]");
    }
    return spec;
}

std::string linux_cmdline(const LinuxVmOptions& options, std::string_view image_options) {
    std::string cmdline = linux_base_cmdline;
    if (options.pci.console == GuestConsole::virtio) {
        // One console only: with both, every kernel message would reach stdout twice.
        // Until the virtio_console driver loads, the kernel keeps its messages and
        // replays them on hvc0.
        cmdline.replace(cmdline.find(linux_serial_console), std::strlen(linux_serial_console),
                        linux_virtio_console);
    }
    if (!image_options.empty()) {
        cmdline += ' ';
        cmdline += image_options;
    }
    if (!options.extra_cmdline.empty()) {
        cmdline += ' ';
        cmdline += options.extra_cmdline;
    }
    return cmdline;
}

namespace {

// Puts the state a snapshot saved into a machine built like the saved one, before its
// vCPUs run: the devices first (the UART drives its interrupt line), then the vCPUs,
// then the in-kernel platform.
void restore_machine(const nlohmann::json& state, kvm::Vm& vm, std::vector<kvm::Vcpu>& vcpus,
                     devices::Uart8250& uart, devices::I8042& i8042, PciDevices& pci) {
    const auto& devices = state.at("devices");
    uart.restore(uart_state(devices.at("serial")));
    i8042.restore(i8042_state(devices.at("i8042")));
    pci.restore(devices.at("pci"));
    for (std::size_t i = 0; i < vcpus.size(); ++i) {
        try {
            restore_vcpu(vcpus[i], state.at("vcpus").at(i));
        } catch (const Error& e) {
            throw e.with_context(fmt::format("vCPU {}", i));
        }
    }
    restore_platform(vm, state.at("platform"));
    // Last: an interrupt raised before the local APICs' state was put back would be lost.
    pci.restored();
}

// One boot, from reading the kernel to the guest's end, or one restore of a snapshot
// (`snapshot`, with `options` set to its machine); `rebooted` says whether the guest
// asked for a reset.
int boot_linux_once(const LinuxVmOptions& options, bool& rebooted,
                    const LoadedSnapshot* snapshot = nullptr) {
    // Before any thread starts: the network backends start theirs as they open.
    const sandbox::VmmSandbox sandbox(options.seccomp);
    auto inputs = snapshot ? nullptr : std::make_unique<BootInputs>(read_boot_inputs(options));
    auto virtio_devices = open_virtio_devices(options.pci.devices);
    auto fw_cfg = make_fw_cfg(options.fw_cfg_files, options.memory_size, options.cpus);
    std::unique_ptr<ExitTraceWriter> trace;
    if (!options.trace_file.empty()) {
        // Created before KVM is opened, so a bad path is bad input reported at once, and
        // after every input is open, so that the trace can be refused when it is one.
        const auto& guest = options.image ? options.image->path : options.kernel;
        trace = ExitTraceWriter::create(options.trace_file,
                                        fmt::format("berth linux {}", guest.filename().string()));
    }
    // Bound before KVM is opened (a taken path is bad input, reported at once); it
    // answers once the vCPUs run.
    std::unique_ptr<api::ApiServer> api;
    if (!options.api_socket.empty()) {
        api = std::make_unique<api::ApiServer>(options.api_socket);
    }

    const kvm::System kvm = kvm::System::open();
    if (kvm::host_kvm_is_pvm()) {
        throw Error(kvm::pvm_cannot_boot_linux_message());
    }
    const int max_vcpus = kvm.check_extension(KVM_CAP_MAX_VCPUS);
    if (max_vcpus > 0 && options.cpus > static_cast<std::uint32_t>(max_vcpus)) {
        throw bad_input(fmt::format("cpus {}: more than this host's KVM allows; give at most {}",
                                    options.cpus, max_vcpus));
    }
    kvm::Vm vm = kvm.create_vm();
    // Intel VT's real-mode helpers, in the hole below 4 GiB.
    vm.set_identity_map_address(layout::identity_map_address);
    vm.set_tss_address(layout::tss_address);
    vm.create_irqchip();
    vm.create_pit2();

    memory::GuestRam memory;
    if (snapshot) {
        // Copy-on-write from the memory file (a page is read when the guest first
        // touches it), or copied up front with --restore-memory eager; either way the
        // file is never written, so it restores again and again.
        for (const auto& region : snapshot->state.at("memory")) {
            memory.add_file_ram(region.at("guest_address").get<std::uint64_t>(),
                                region.at("size").get<std::uint64_t>(), snapshot->memory.get(),
                                region.at("offset").get<std::uint64_t>(), options.restore_memory);
        }
    } else {
        const boot::RamLayout layout = boot::RamLayout::for_size(options.memory_size);
        memory.add_ram(0, layout.low_size, options.guest_pages);
        if (layout.high_size > 0) {
            memory.add_ram(layout::high_ram_address, layout.high_size, options.guest_pages);
        }
    }
    for (std::uint32_t slot = 0; slot < memory.regions().size(); ++slot) {
        const auto& region = memory.regions()[slot];
        vm.set_user_memory_region(slot, region.guest_address, region.size(), region.mapping.data());
    }
    std::optional<ProtectedModeEntry> protected_entry;
    if (inputs) {
        write_boot_memory(memory, *inputs, options);
        if (inputs->multiboot) {
            protected_entry = ProtectedModeEntry{
                inputs->multiboot->kernel.entry, boot::multiboot_bootloader_magic,
                static_cast<std::uint32_t>(inputs->multiboot->plan.info_address)};
        } else if (inputs->pvh) {
            protected_entry = ProtectedModeEntry{
                inputs->pvh->kernel.entry, 0,
                static_cast<std::uint32_t>(inputs->pvh->plan.start_info_address)};
        }
    }
    // The FADT of a Multiboot guest names the PM timer (write_boot_memory).
    const bool pm_timer = snapshot ? snapshot->pm_timer : inputs && inputs->multiboot.has_value();
    // The kernel and initrd now live in guest RAM. berth's own copies (~9 MiB for
    // Debian's kernel and the busybox initramfs) would otherwise stay resident for the
    // VM's whole life and count as VMM overhead.
    inputs.reset();
    phase_mark("vm_ready");

    Machine machine;
    VmFacts facts{options.cpus, options.memory_size, {}};
    // Every port device goes on the bus through here, so that the API's info names it.
    auto attach_port = [&machine, &facts](std::uint16_t port, std::uint16_t count,
                                          std::shared_ptr<devices::PortIoDevice> device) {
        facts.devices.emplace_back(device->name());
        machine.buses.ports.attach(port, count, std::move(device));
    };
    machine.timing.timed = options.trace_exits == TraceExits::on || trace != nullptr;
    machine.timing.trace = std::move(trace);
    auto uart = std::make_shared<devices::Uart8250>(
        "serial 8250 (COM1)",
        [&machine](std::uint8_t byte) {
            machine.console_output.mark();
            write_console_byte(byte);
        },
        [&vm](bool level) { vm.set_irq_line(layout::com1_irq, level); });
    attach_port(layout::com1_port, devices::Uart8250::register_count, uart);
    auto i8042 = std::make_shared<devices::I8042>([&machine] { machine.reboot(); });
    attach_port(layout::i8042_port, devices::I8042::port_count, i8042);
    attach_port(layout::acpi_sleep_control_port, devices::AcpiSleepControl::port_count,
                std::make_shared<devices::AcpiSleepControl>([&machine](std::uint8_t type) {
                    if (type == x86::acpi_s5_sleep_type) {
                        machine.stop.request(0);
                    }
                }));
    attach_port(layout::debug_exit_port, devices::DebugExit::register_count, machine.debug_exit);
    attach_port(layout::fw_cfg_port, devices::FwCfg::register_count, std::move(fw_cfg));
    if (options.qemu_debug_exit == QemuDebugExit::on) {
        attach_port(layout::qemu_debug_exit_port, devices::QemuDebugExit::register_count,
                    std::make_shared<devices::QemuDebugExit>(machine.debug_exit));
    }
    attach_port(layout::phase_port, devices::PhasePort::register_count,
                std::make_shared<devices::PhasePort>([&machine] { machine.guest_init.mark(); }));
    if (pm_timer) {
        attach_port(layout::acpi_pm_timer_port, devices::PmTimer::register_count,
                    std::make_shared<devices::PmTimer>());
    }
    std::shared_ptr<devices::virtio::Console> virtio_console;
    if (options.pci.console == GuestConsole::virtio) {
        virtio_console = std::make_shared<devices::virtio::Console>(
            [&machine](std::span<const std::uint8_t> bytes) {
                machine.console_output.mark();
                write_console_bytes(bytes);
            });
        virtio_devices.push_back(virtio_console);
    }
    for (const auto& device : virtio_devices) {
        facts.devices.emplace_back(device->name());
    }
    PciDevices pci(std::move(virtio_devices));
    pci.attach(vm, memory, machine.buses);

    const auto supported_cpuid = kvm.supported_cpuid();
    std::vector<kvm::Vcpu> vcpus;
    vcpus.reserve(options.cpus);
    for (std::uint32_t i = 0; i < options.cpus; ++i) {
        vcpus.push_back(vm.create_vcpu(i));
        if (snapshot) {
            // The rest of its state comes from the snapshot (restore_machine).
            vcpus.back().set_cpuid(x86::guest_cpuid(supported_cpuid, i, options.cpus));
        } else {
            configure_vcpu(vcpus.back(), i, options.cpus, supported_cpuid, protected_entry);
        }
        if (machine.timing.trace) {
            machine.timing.trace->add_vcpu(i);
        }
    }

    // Before the console's input thread can put bytes in the UART.
    if (snapshot) {
        try {
            restore_machine(snapshot->state, vm, vcpus, *uart, *i8042, pci);
        } catch (const nlohmann::json::exception&) {
            throw bad_input(fmt::format(
                "snapshot state file {}: damaged: a field is missing or has the wrong type; "
                "take the snapshot again",
                (snapshot->dir / snapshot_state_file).string()));
        } catch (const Error& e) {
            throw e.with_context("cannot restore snapshot " + snapshot->dir.string());
        }
        phase_mark("restored");
    }
    // The working set: pre-faulted when the snapshot has one, recorded when not, on a
    // kernel that can pre-fault (else the restore is lazy as it always was).
    std::unique_ptr<WorkingSetRecorder> working_set_recorder;
    if (snapshot && options.restore_working_set &&
        kvm.check_extension(kvm::cap_pre_fault_memory) > 0) {
        if (snapshot->working_set) {
            const PreFaultResult done =
                pre_fault_working_set(vcpus.front(), memory, *snapshot->working_set);
            phase_mark(done.refused ? "working_set_refused" : "working_set_pre_faulted");
        } else {
            working_set_recorder = WorkingSetRecorder::start(snapshot->dir);
        }
    }
    VmStop::kick_signal();
    const StopSignals signals;
    const RawTerminal terminal(STDIN_FILENO);
    ConsoleInput::Receiver receiver = [&uart](std::span<const std::uint8_t> bytes) {
        return uart->receive(bytes);
    };
    if (virtio_console) {
        receiver = [&virtio_console](std::span<const std::uint8_t> bytes) {
            return virtio_console->receive(bytes);
        };
    }
    const ConsoleInput console(STDIN_FILENO, receiver, [&machine] { machine.stop.request(0); });
    // PUT /vm/snapshot, with every vCPU parked: the devices finish the requests they
    // serve and stop, then everything is read and written out; the devices run again
    // (the vCPUs stay parked until the API resumes them).
    SaveSnapshot save = [&](const std::filesystem::path& dir) {
        nlohmann::json state;
        state["machine"] = snapshot_machine_record(options, pm_timer);
        prepare_snapshot_dir(dir);
        pci.pause_workers();
        try {
            state["devices"] = {{"serial", to_json(uart->state())},
                                {"i8042", to_json(i8042->state())},
                                {"pci", pci.save()}};
            state["vcpus"] = nlohmann::json::array();
            const std::vector<std::uint32_t> msr_indices = kvm.msr_index_list();
            for (const auto& vcpu : vcpus) {
                state["vcpus"].push_back(save_vcpu(vcpu, msr_indices));
            }
            state["platform"] = save_platform(vm);
            state["memory"] = write_snapshot_memory(dir, memory);
            write_snapshot_state(dir, state);
        } catch (...) {
            pci.resume_workers();
            throw;
        }
        pci.resume_workers();
    };
    std::vector<ExitStats> stats(options.cpus);
    // The power button's Generic Event Device interrupts on an edge: a pulse.
    const auto press_power_button = [&vm] {
        vm.set_irq_line(layout::acpi_power_button_gsi, true);
        vm.set_irq_line(layout::acpi_power_button_gsi, false);
    };
    RunningVm running(machine.stop, stats, std::move(facts), press_power_button, std::move(save));
    {
        VcpuThreads threads(machine.stop);
        for (std::uint32_t i = 0; i < options.cpus; ++i) {
            threads.start([&, i] {
                try {
                    run_vcpu(vcpus[i], i, machine, stats[i]);
                } catch (...) {
                    machine.stop.request_error(std::current_exception());
                }
            });
        }
        // Its threads start after StopSignals, so that they too leave SIGINT, SIGTERM
        // and SIGHUP to the signalfd. It stops answering before `running` goes away.
        const auto serving = api ? api->serve(running) : nullptr;
        // Every thread runs: the main thread's setup is done. Not with --reboot restart,
        // whose next boot opens and creates everything again on this thread.
        if (options.on_reboot == OnReboot::exit) {
            sandbox.confine_this_thread("main");
        }
        WaitJob record_working_set;
        if (working_set_recorder) {
            record_working_set = {working_set_record_after,
                                  [&] { working_set_recorder->record(memory); }};
        }
        wait_for_stop(machine.stop, signals, std::move(record_working_set));
        threads.join_all();
    }
    // A guest that stopped within working_set_record_after: what it touched until then.
    if (working_set_recorder) {
        working_set_recorder->record(memory);
    }
    if (options.trace_exits == TraceExits::on) {
        ExitStats total;
        for (const auto& one : stats) {
            total.merge(one);
        }
        std::fputs(total.table().c_str(), stderr);
    }
    if (machine.timing.trace) {
        machine.timing.trace->finish();  // throws when the trace could not be written
    }
    const int status = machine.stop.result();
    rebooted = machine.rebooted;
    return status;
}

}  // namespace

int run_linux_vm(const LinuxVmOptions& options) {
    if (!options.restore.empty()) {
        LinuxVmOptions restored = options;
        const LoadedSnapshot snapshot = load_snapshot(options.restore, restored);
        bool rebooted = false;
        // A reset of a restored guest ends berth, as --reboot exit does: booting it
        // again would need the kernel the snapshot does not name.
        return boot_linux_once(restored, rebooted, &snapshot);
    }
    for (;;) {
        bool rebooted = false;
        const int status = boot_linux_once(options, rebooted);
        if (!rebooted || options.on_reboot == OnReboot::exit) {
            return status;
        }
        // A reset is a fresh machine: new RAM, the kernel and initrd read again, the
        // disks reopened (their contents kept), as a PC's reset button would.
        std::fputs("berth: the guest rebooted; starting it again (--reboot restart)\n", stderr);
    }
}

}  // namespace berth::machine
