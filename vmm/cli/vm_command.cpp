// `berth vm run`: run a guest on KVM.

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "devices/block/ephemeral_overlay.hpp"
#include "vmm/api/api_client.hpp"
#include "vmm/boot/cloud_init_seed.hpp"
#include "vmm/cli/command.hpp"
#include "vmm/cli/vm_start.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/parse_number.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/size.hpp"
#include "vmm/common/temp_dir.hpp"
#include "vmm/container/jail.hpp"
#include "vmm/machine/firmware_vm.hpp"
#include "vmm/machine/linux_vm.hpp"
#include "vmm/machine/virtio_device_spec.hpp"
#include "vmm/memory/platform_layout.hpp"
#include "vmm/net/ipv4.hpp"
#include "vmm/net/port_forward.hpp"
#include "vmm/net/user_network.hpp"

namespace berth::cli {

namespace {

// --debug-exit PORT: 0xf4 adds QEMU's isa-debug-exit there; 0x501, berth's own port,
// is always on, so naming it changes nothing. Hex (0x...) or decimal.
machine::QemuDebugExit parse_debug_exit(const std::string& text) {
    const bool hex = text.starts_with("0x") || text.starts_with("0X");
    unsigned port = 0;
    const bool number =
        parse_whole_number(std::string_view(text).substr(hex ? 2 : 0), port, hex ? 16 : 10);
    if (number && port == layout::qemu_debug_exit_port) {
        return machine::QemuDebugExit::on;
    }
    if (number && port == layout::debug_exit_port) {
        return machine::QemuDebugExit::off;
    }
    throw bad_input(
        fmt::format("--debug-exit {}: berth has no debug-exit port there; give 0xf4 (QEMU's "
                    "isa-debug-exit: a value v ends berth with status (v << 1) | 1) or 0x501 "
                    "(berth's own, always on: v ends it with status v)",
                    quote(text)));
}

// --publish VALUE...: parsed here, then handed to the first user-mode NIC.
void add_published_ports(machine::VirtioDeviceSpecs& devices,
                         const std::vector<std::string>& values) {
    std::vector<net::PortForward> forwards;
    for (const auto& value : values) {
        try {
            forwards.push_back(net::PortForward::parse(value));
        } catch (const Error& e) {
            throw e.with_context("--publish " + quote(value));
        }
    }
    if (!machine::add_port_forwards(devices, forwards)) {
        throw bad_input(fmt::format(
            "--publish {}: publishing a port needs a NIC with user-mode networking; add --net "
            "user (a guest on a bridge needs none: the host reaches its own address)",
            quote(values.front())));
    }
}

// One use of a virtio device flag for a jailed VMM: a disk's image bound into the jail,
// --net user with libslirp loaded before (the jail has no libraries) and the host's
// resolv.conf (its DNS), --net none; nothing that needs host set-up from inside.
std::shared_ptr<const machine::VirtioDeviceSpec> jailed_device(container::Jail& jail,
                                                               std::string_view flag,
                                                               const std::string& value) {
    const auto& flags = machine::virtio_device_flags();
    const auto device = std::find_if(flags.begin(), flags.end(),
                                     [&](const auto& known) { return known.name == flag; });
    if (flag == "--disk") {
        auto spec = devices::virtio::DiskSpec::parse(value);
        spec.path =
            jail.add_file(spec.path, spec.access == devices::block::Access::read_write, "--disk");
        return machine::virtio_disk(spec);
    }
    if (flag == "--net") {
        if (value == "user") {
            net::load_user_network_library();
            jail.add_optional_file("/etc/resolv.conf");
            jail.set_network(container::JailNetwork::host);
        } else if (value != "none") {
            throw bad_input(
                "cannot go with --jail: a tap needs root's network set-up, which the jailed "
                "VMM has not; use --net user, or run without --jail");
        }
    }
    return device->make(value);
}

}  // namespace

void add_vm_command(CLI::App& app, Action& action) {
    auto* vm = app.add_subcommand("vm", "Run a guest as a KVM virtual machine");
    vm->require_subcommand(1);

    struct RunFlags {
        std::string firmware;
        std::string kernel;
        std::string initrd;
        std::vector<std::string> modules;
        std::string image;
        bool ephemeral = false;
        std::vector<std::string> ssh_keys;  // cloud-init seed: --ssh-key ...
        std::string password;
        std::string hostname;
        std::string user_data;
        std::string cmdline;
        std::uint32_t cpus = 1;
        std::string memory;  // empty: the machine's default
        bool trace_exits = false;
        std::string trace;  // exit trace file; empty: none
        // Per virtio device flag (machine::virtio_device_flags()): the values given, or
        // whether a flag without a value was given.
        struct DeviceFlag {
            std::vector<std::string> values;
            bool given = false;
        };
        std::vector<DeviceFlag> devices =
            std::vector<DeviceFlag>(machine::virtio_device_flags().size());
        std::string console = "ttyS0";
        bool hugepages = false;
        std::string reboot = "exit";
        std::string debug_exit;  // empty: berth's port 0x501 only
        std::vector<std::string> fw_cfg;
        std::vector<std::string> publish;            // --publish, for the first --net user NIC
        std::string ip;                              // --ip, for the first --net bridge NIC
        std::string api_socket;                      // --api-socket; empty: no control API
        std::string restore;                         // --restore DIR: a snapshot to resume
        std::string restore_memory = "working-set";  // --restore-memory working-set|lazy|eager
        std::string seccomp = "on";
        std::string jail;  // --jail DIR: the VMM in a jail (container/jail.hpp)
    };
    auto flags = std::make_shared<RunFlags>();

    auto* run = vm->add_subcommand("run", "Boot a guest and attach its serial console to stdio");
    auto* firmware =
        run->add_option("--firmware", flags->firmware,
                        "Flat real-mode binary loaded at 0000:7C00 (see guest-firmware/)");
    auto* kernel = run->add_option("--kernel", flags->kernel,
                                   "Kernel to boot, told apart by its headers: a Linux x86-64 "
                                   "bzImage (/boot/vmlinuz-*), an ELF vmlinux with a PVH entry "
                                   "note, or a Multiboot kernel (ELF32, ELF64 or a.out kludge)");
    kernel->excludes(firmware);
    auto* initrd = run->add_option("--initrd", flags->initrd,
                                   "Initial RAM disk (cpio archive) for --kernel; for a Multiboot "
                                   "kernel, its first module")
                       ->needs(kernel);
    run->add_option("--module", flags->modules,
                    "A module for a Multiboot --kernel, with ARGS after the kernel-visible path "
                    "in its string (repeatable; after --initrd's)")
        ->type_name("FILE[,ARGS]")
        ->check(non_empty)
        ->needs(kernel);
    auto* image =
        run->add_option("--image", flags->image,
                        "Disk image to boot, attached read-write as the first disk (/dev/vda): "
                        "ext4 on the whole disk (`berth image build debian`; root=/dev/vda) "
                        "or a GPT/MBR disk whose boot loader entry (grub.cfg or "
                        "/loader/entries) gives the kernel, initrd and root=")
            ->type_name("FILE[,format=raw|qcow2]")
            ->check(non_empty);
    image->excludes(firmware)->excludes(kernel)->excludes(initrd);
    run->add_flag("--ephemeral", flags->ephemeral,
                  "Send the guest's writes to --image into a temporary qcow2 overlay in $TMPDIR, "
                  "deleted when berth exits: the image stays unchanged (it is only read)")
        ->needs(image);
    auto* cmdline = run->add_option("--cmdline", flags->cmdline,
                                    std::string("Kernel parameters, appended to \"") +
                                        machine::linux_base_cmdline +
                                        "\" (for a Multiboot kernel: to the kernel's path)");
    auto* cpus =
        run->add_option("--cpus", flags->cpus, "vCPUs for --kernel or --image (default 1)");
    // These work with --kernel or --image, which CLI11's needs() cannot say.
    std::vector<CLI::Option*> linux_only{cmdline, cpus};
    for (std::size_t i = 0; i < machine::virtio_device_flags().size(); ++i) {
        const auto& device = machine::virtio_device_flags()[i];
        auto& given = flags->devices[i];
        const std::string name(device.name);
        const std::string help(device.help);
        linux_only.push_back(device.value_name.empty()
                                 ? run->add_flag(name, given.given, help)
                                 : run->add_option(name, given.values, help)
                                       ->type_name(std::string(device.value_name))
                                       ->check(non_empty));
    }
    // cloud-init NoCloud seed (boot/cloud_init_seed.hpp).
    linux_only.push_back(run->add_option("--ssh-key", flags->ssh_keys,
                                         "cloud-init: authorize this OpenSSH public key (a .pub "
                                         "file) for the image's default user; repeatable")
                             ->type_name("FILE")
                             ->check(non_empty));
    auto* run_password =
        run->add_option("--password", flags->password,
                        "cloud-init: set the image's default user's password (visible to "
                        "other users in the process list; prefer --ssh-key)")
            ->type_name("PW");
    linux_only.push_back(run_password);
    linux_only.push_back(run->add_option("--hostname", flags->hostname,
                                         "cloud-init: the guest's host name (meta-data "
                                         "local-hostname)")
                             ->type_name("H")
                             ->check(non_empty));
    linux_only.push_back(run->add_option("--user-data", flags->user_data,
                                         "cloud-init: a whole user-data file (#cloud-config), "
                                         "used as it is")
                             ->type_name("FILE")
                             ->check(non_empty));
    linux_only.push_back(
        run->add_option("--publish", flags->publish,
                        "Forward a host port into the guest through its --net user NIC, as "
                        "docker -p does (HOSTIP defaults to every host address); repeatable")
            ->type_name("[HOSTIP:]HOSTPORT:GUESTPORT[/udp]")
            ->check(non_empty));
    linux_only.push_back(
        run->add_option("--ip", flags->ip,
                        "Pin the address of the first --net bridge NIC (berth's DHCP hands it "
                        "to the guest), e.g. 10.88.0.5/16: a host address of the bridge's "
                        "network, with its prefix")
            ->type_name("CIDR")
            ->check(non_empty));
    auto* console = run->add_option("--console", flags->console,
                                    "The guest's console: ttyS0 (the COM1 serial port, default) or "
                                    "hvc0 (a virtio-console, faster: no exit per byte)")
                        ->check(CLI::IsMember({"ttyS0", "hvc0"}));
    run->add_option("--memory", flags->memory,
                    "Guest RAM, e.g. 64M or 1G (default 256M with --kernel, 16M with --firmware)");
    auto* reboot = run->add_option("--reboot", flags->reboot,
                                   "What a guest reboot does: exit (end berth with status 0, "
                                   "default) or restart (boot the guest again)")
                       ->check(CLI::IsMember({"exit", "restart"}));
    auto* hugepages = run->add_flag(
        "--hugepages", flags->hugepages,
        "Back guest RAM with the host's reserved 2 MiB huge pages (/proc/sys/vm/nr_hugepages)");
    run->add_option("--debug-exit", flags->debug_exit,
                    "Also end berth when the guest writes a value v to port 0xf4, with status "
                    "(v << 1) | 1 (QEMU's isa-debug-exit); berth's port 0x501 is always on")
        ->type_name("PORT")
        ->check(non_empty);
    run->add_option("--fw-cfg", flags->fw_cfg,
                    "Hand the guest a file through fw_cfg (QEMU's, ports 0x510-0x511): "
                    "name=opt/NAME,file=PATH (repeatable)")
        ->type_name("name=opt/NAME,file=PATH")
        ->check(non_empty);
    run->add_flag("--trace-exits", flags->trace_exits,
                  "Print a table of VM exits by reason and by port when the guest stops");
    run->add_option("--trace", flags->trace,
                    "Write every VM exit to FILE as Chrome trace-event JSON (open it in "
                    "ui.perfetto.dev or chrome://tracing)")
        ->type_name("FILE");
    auto* api_socket =
        run->add_option(
               "--api-socket", flags->api_socket,
               "Serve the control API (JSON over HTTP/1.1; docs/api/openapi.yaml) on "
               "a unix socket at PATH: info, pause, resume, shutdown, stop, stats; see `berth vm "
               "ctl`")
            ->type_name("PATH")
            ->check(non_empty);
    auto* restore =
        run->add_option("--restore", flags->restore,
                        "Resume the VM saved in DIR by `berth vm ctl SOCKET snapshot DIR` instead "
                        "of booting one (its memory is mapped lazily, its disks reopened); the "
                        "machine is the snapshot's, so only --api-socket and the trace flags go "
                        "with it (docs/snapshots.md)")
            ->type_name("DIR")
            ->check(non_empty);
    restore->excludes(firmware)->excludes(kernel)->excludes(image);
    run->add_option("--restore-memory", flags->restore_memory,
                    "How --restore loads the snapshot's RAM: working-set (default: as lazy, "
                    "but the pages the snapshot's first restore had in memory are mapped "
                    "into KVM before the guest runs, on Linux 6.10+: few exits, little "
                    "resident), lazy (each page read from the memory file when the guest "
                    "first touches it; little resident memory, one VM exit per page "
                    "touched) or eager (all of it copied before the guest runs, onto huge "
                    "pages: a few exits, all of it resident; docs/snapshots.md)")
        ->check(CLI::IsMember({"working-set", "lazy", "eager"}))
        ->needs(restore);
    run->add_option("--seccomp", flags->seccomp,
                    "Confine each of berth's threads (vCPUs, device workers, console, API, "
                    "network) to the system calls it needs: on (default) or off, for "
                    "debugging (docs/sandbox.md)")
        ->check(CLI::IsMember({"on", "off"}));
    auto* jail_option =
        run->add_option("--jail", flags->jail,
                        "Run the VMM jailed, as Firecracker's jailer does: its own mount, pid, "
                        "ipc, uts (and, without --net user, network) namespaces, pivot_rooted "
                        "into DIR holding only its files, /dev/kvm and the API socket's "
                        "directory, no capabilities, its own cgroup; DIR stays empty on the "
                        "host (docs/sandbox.md)")
            ->type_name("DIR")
            ->check(non_empty);
    // What a jail cannot honour: files the VMM writes or creates besides the API socket,
    // and a snapshot's directory of files.
    const std::vector<std::pair<CLI::Option*, const char*>> not_in_jail{
        {run->get_option("--restore"),
         "cannot go with --jail: a snapshot's files are found by their host paths; restore "
         "without a jail"},
        {run->get_option("--ephemeral"),
         "cannot go with --jail: the overlay names the image by its host path; give the "
         "jailed VM a copy of the image instead"},
        {run->get_option("--trace"),
         "cannot go with --jail: the jailed VMM creates no files; trace without a jail"},
    };
    linux_only.insert(linux_only.end(), {console, hugepages, reboot, api_socket});
    // What the snapshot decides, besides the Linux-only flags.
    const std::vector<CLI::Option*> machine_flags{
        run->get_option("--memory"), run->get_option("--debug-exit"), run->get_option("--fw-cfg")};
    run->callback([flags, linux_only, run_password, restore, machine_flags, api_socket, jail_option,
                   not_in_jail, &action] {
        if (jail_option->count() > 0) {
            for (const auto& [option, reason] : not_in_jail) {
                if (option->count() > 0) {
                    throw CLI::ValidationError(option->get_name(), reason);
                }
            }
        }
        if (restore->count() > 0) {
            for (const auto* option : linux_only) {
                if (option != api_socket && option->count() > 0) {
                    throw CLI::ValidationError(
                        option->get_name(),
                        "cannot go with --restore: the snapshot says what the machine is");
                }
            }
            for (const auto* option : machine_flags) {
                if (option->count() > 0) {
                    throw CLI::ValidationError(
                        option->get_name(),
                        "cannot go with --restore: the snapshot says what the machine is");
                }
            }
            action = [flags] {
                machine::LinuxVmOptions options;
                options.restore = flags->restore;
                options.restore_memory = flags->restore_memory == "eager" ? memory::FileLoad::eager
                                                                          : memory::FileLoad::lazy;
                options.restore_working_set = flags->restore_memory == "working-set";
                options.api_socket = flags->api_socket;
                options.seccomp =
                    flags->seccomp == "off" ? sandbox::Seccomp::off : sandbox::Seccomp::on;
                options.trace_exits =
                    flags->trace_exits ? machine::TraceExits::on : machine::TraceExits::off;
                options.trace_file = flags->trace;
                return run_vm("VM", [&] { return machine::run_linux_vm(options); });
            };
            return;
        }
        if (flags->kernel.empty() && flags->image.empty()) {
            for (const auto* option : linux_only) {
                if (option->count() > 0) {
                    throw CLI::ValidationError(option->get_name(),
                                               "needs --kernel or --image (a Linux guest)");
                }
            }
        }
        action = [flags, run_password] {
            // --jail: each file the VMM opens is bound into the jail, and the VMM is given
            // its path there.
            std::optional<container::Jail> jail;
            if (!flags->jail.empty()) {
                jail = container::Jail::plan(flags->jail, "--jail");
            }
            const auto in_jail = [&](const std::filesystem::path& path, bool writable,
                                     const std::string& what) {
                return jail ? jail->add_file(path, writable, what) : path;
            };
            // Runs the machine, in the jail when there is one.
            const auto run_machine = [&](const std::function<int()>& machine_run) {
                if (!jail) {
                    return run_vm("VM", machine_run);
                }
                if (::access("/dev/kvm", F_OK) == 0) {
                    jail->add_device("/dev/kvm");
                }
                return jail->run([&] { return run_vm("VM", machine_run); });
            };
            const auto trace =
                flags->trace_exits ? machine::TraceExits::on : machine::TraceExits::off;
            const auto seccomp =
                flags->seccomp == "off" ? sandbox::Seccomp::off : sandbox::Seccomp::on;
            const auto qemu_debug_exit = flags->debug_exit.empty()
                                             ? machine::QemuDebugExit::off
                                             : parse_debug_exit(flags->debug_exit);
            std::vector<machine::FwCfgFileSpec> fw_cfg_files;
            for (const auto& value : flags->fw_cfg) {
                try {
                    fw_cfg_files.push_back(machine::parse_fw_cfg_file(value));
                    fw_cfg_files.back().file =
                        in_jail(fw_cfg_files.back().file, false, "--fw-cfg " + quote(value));
                } catch (const Error& e) {
                    throw e.with_context("--fw-cfg " + quote(value));
                }
            }
            if (!flags->kernel.empty() || !flags->image.empty()) {
                // --ephemeral: removed when this block ends, after the VM.
                std::optional<devices::block::EphemeralOverlay> overlay;
                std::optional<TempDir> seed_dir;  // the cloud-init seed volume
                machine::LinuxVmOptions options;
                if (!flags->kernel.empty()) {
                    options.kernel = in_jail(flags->kernel, false, "--kernel");
                }
                if (!flags->initrd.empty()) {
                    options.initrd = in_jail(flags->initrd, false, "--initrd");
                }
                for (const auto& value : flags->modules) {
                    try {
                        options.modules.push_back(machine::MultibootModuleSpec::parse(value));
                        options.modules.back().path =
                            in_jail(options.modules.back().path, false, "--module");
                    } catch (const Error& e) {
                        throw e.with_context("--module " + quote(value));
                    }
                }
                options.extra_cmdline = flags->cmdline;
                if (!flags->image.empty()) {
                    devices::virtio::DiskSpec spec;
                    try {
                        spec = devices::virtio::DiskSpec::parse(flags->image);
                    } catch (const Error& e) {
                        throw e.with_context("--image " + quote(flags->image));
                    }
                    if (spec.access == devices::block::Access::read_only && !flags->ephemeral) {
                        throw bad_input(fmt::format(
                            "--image {}: ,ro cannot boot: the image is the guest's root disk, "
                            "attached read-write; drop ,ro, add --ephemeral or boot a writable "
                            "copy",
                            quote(flags->image)));
                    }
                    // Said here, in the image's terms: the disk layer would suggest
                    // attaching it read-only, which --image cannot do.
                    if (!flags->ephemeral && ::access(spec.path.c_str(), W_OK) != 0 &&
                        (errno == EACCES || errno == EROFS)) {
                        throw bad_input(fmt::format(
                            "--image {} is not writable ({}): berth boots the image read-write "
                            "as the guest's root disk /dev/vda; make it writable (chmod u+w), "
                            "add --ephemeral or boot a writable copy",
                            spec.path.string(), std::strerror(errno)));
                    }
                    spec.path = in_jail(spec.path, true, "--image");
                    // The image is /dev/vda: the first disk, before any --disk.
                    options.image = spec;
                    if (flags->ephemeral) {
                        try {
                            overlay.emplace(devices::block::EphemeralOverlay::create(spec));
                        } catch (const Error& e) {
                            throw e.with_context("--image " + quote(flags->image) + " --ephemeral");
                        }
                    }
                    options.pci.devices.push_back(
                        machine::virtio_disk(overlay ? overlay->disk() : spec));
                }
                options.cpus = flags->cpus;
                // Devices take PCI slots in the flags' order, each flag's in command-line order.
                for (std::size_t i = 0; i < flags->devices.size(); ++i) {
                    const auto& device = machine::virtio_device_flags()[i];
                    for (const auto& value : flags->devices[i].values) {
                        try {
                            if (jail) {
                                if (auto spec = jailed_device(*jail, device.name, value)) {
                                    options.pci.devices.push_back(std::move(spec));
                                }
                                continue;
                            }
                            if (auto spec = device.make(value)) {  // null: no device
                                options.pci.devices.push_back(std::move(spec));
                            }
                        } catch (const Error& e) {
                            throw e.with_context(std::string(device.name) + " " + quote(value));
                        }
                    }
                    if (flags->devices[i].given) {
                        options.pci.devices.push_back(device.make(""));
                    }
                }
                add_published_ports(options.pci.devices, flags->publish);
                if (!flags->ip.empty()) {
                    const auto address = net::parse_cidr(flags->ip, "--ip");
                    if (!machine::add_bridge_address(options.pci.devices, address)) {
                        throw bad_input(fmt::format(
                            "--ip {}: pinning an address needs a NIC on a bridge; add --net "
                            "bridge (--net user's address is always 10.0.2.15)",
                            quote(flags->ip)));
                    }
                }
                boot::CloudInitOptions cloud_init;
                for (const auto& key : flags->ssh_keys) {
                    cloud_init.ssh_key_files.emplace_back(key);
                }
                if (run_password->count() > 0) {
                    cloud_init.password = flags->password;
                }
                cloud_init.hostname = flags->hostname;
                if (!flags->user_data.empty()) {
                    cloud_init.user_data_file = flags->user_data;
                }
                if (cloud_init.wanted()) {
                    // The last disk: the image stays /dev/vda, --disk keeps its names.
                    const auto files = boot::make_seed_files(cloud_init, boot::new_instance_id());
                    seed_dir.emplace("berth-seed.");
                    const auto seed = seed_dir->path() / "seed.iso";
                    boot::write_seed_volume(seed, files);
                    options.pci.devices.push_back(machine::virtio_disk(devices::virtio::DiskSpec{
                        in_jail(seed, false, "the cloud-init seed"),
                        devices::block::Access::read_only, devices::block::DiskFormat::raw}));
                }
                options.pci.console = flags->console == "hvc0" ? machine::GuestConsole::virtio
                                                               : machine::GuestConsole::serial;
                if (flags->reboot == "restart") {
                    options.on_reboot = machine::OnReboot::restart;
                }
                if (flags->hugepages) {
                    options.guest_pages = memory::PageSize::huge;
                }
                if (!flags->memory.empty()) {
                    options.memory_size = parse_size(flags->memory, "--memory");
                }
                options.trace_exits = trace;
                options.trace_file = flags->trace;
                options.qemu_debug_exit = qemu_debug_exit;
                options.fw_cfg_files = fw_cfg_files;
                options.api_socket = flags->api_socket;
                if (jail && !flags->api_socket.empty()) {
                    options.api_socket = jail->add_socket(flags->api_socket, "--api-socket");
                }
                options.seccomp = seccomp;
                return run_machine([&] { return machine::run_linux_vm(options); });
            }
            if (flags->firmware.empty()) {
                throw bad_input(
                    "vm run needs a guest: --kernel FILE (a Linux bzImage), --image "
                    "FILE (an ext4 disk image with /boot) or --firmware FILE (a "
                    "flat real-mode binary)");
            }
            machine::FirmwareVmOptions options;
            options.firmware = in_jail(flags->firmware, false, "--firmware");
            if (!flags->memory.empty()) {
                options.memory_size = parse_size(flags->memory, "--memory");
            }
            options.trace_exits = trace;
            options.trace_file = flags->trace;
            options.qemu_debug_exit = qemu_debug_exit;
            options.fw_cfg_files = fw_cfg_files;
            options.seccomp = seccomp;
            return run_machine([&] { return machine::run_firmware_vm(options); });
        };
    });

    struct CtlFlags {
        std::string socket;
        std::string command;
        std::string argument;  // snapshot's DIR
    };
    auto ctl_flags = std::make_shared<CtlFlags>();
    auto* ctl = vm->add_subcommand(
        "ctl", "Ask a VM started with `vm run --api-socket` for its state, or change it");
    std::vector<std::string> command_names;
    std::string command_help = "What to do:";
    for (const auto& command : api::api_commands()) {
        command_names.emplace_back(command.name);
        command_help +=
            fmt::format(" {}{}{} ({} {})", command.name, command.argument.empty() ? "" : " ",
                        command.argument, command.method, command.path);
    }
    ctl->add_option("socket", ctl_flags->socket, "The VM's API socket (vm run --api-socket)")
        ->type_name("SOCKET")
        ->required()
        ->check(non_empty);
    ctl->add_option("command", ctl_flags->command, command_help)
        ->type_name("COMMAND")
        ->required()
        ->check(CLI::IsMember(command_names));
    ctl->add_option("argument", ctl_flags->argument,
                    "What the command takes: snapshot's DIR (a new or empty directory)")
        ->type_name("DIR");
    ctl->callback([ctl_flags, &action] {
        action = [ctl_flags] {
            return api::run_api_command(ctl_flags->socket, ctl_flags->command, ctl_flags->argument);
        };
    });
}

}  // namespace berth::cli
