#pragma once
// The Linux machine: a PC without a BIOS. berth loads a bzImage and an initrd, writes
// the zero page, ACPI tables and page tables itself, and starts the kernel at its
// 64-bit entry point. The same machine boots Multiboot kernels (vmm/boot/multiboot.hpp,
// told apart by their header): the kernel, its modules and the information structure
// in memory, the boot processor in 32-bit protected mode at the kernel's entry, the
// application processors waiting for the kernel's INIT/SIPI, as on Linux. Devices: in-kernel
// irqchip (PIC, IOAPIC, LAPICs) and PIT, COM1 on IRQ 4 as the console, an i8042 for reboot, ACPI
// sleep control for poweroff, the debug-exit port and fw_cfg (QEMU's, at 0x510; not in the DSDT, so
// Linux's own fw_cfg driver does not bind: it is there for the user's programs). One thread per
// vCPU.
//
// Exit status: 0 when the guest powers off or reboots (unless --reboot restart), the byte it wrote
// to the debug-exit port (0x501), (v << 1) | 1 for a value v written to QEMU's debug-exit port 0xf4
// (with --debug-exit 0xf4), 128+N when stopped by signal N, 1 with a register dump when the
// guest dies (triple fault, KVM internal error), 2 for bad input.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "devices/block/disk_spec.hpp"
#include "vmm/boot/disk_boot.hpp"
#include "vmm/machine/firmware_vm.hpp"
#include "vmm/machine/pci_devices.hpp"
#include "vmm/memory/mapping.hpp"

namespace berth::machine {

inline constexpr std::uint64_t linux_default_memory = 256ULL << 20;
// Kernel parameters berth always passes, before the user's --cmdline: the console on
// COM1, reboot through the keyboard controller (berth's reboot signal), reboot at
// once on panic, and no early PCI scan. Not pci=noacpi: it also turns off ACPI
// interrupt routing, and on our hardware-reduced platform (no PIC) that leaves the
// serial port without its IRQ, so user space output never leaves the guest.
//
// pci=noearly: before the PCI subsystem exists, x86 Linux pokes at chipsets it may be
// running on through configuration mechanism #1. On a CPU whose family is one with a
// K8-style GART (AMD 0Fh, 10h, early 15h; amd_gart_present()), early_gart_iommu_check()
// and gart_iommu_hole_init() each look for an AGP bridge by reading one register of
// every slot of all 256 buses: 2 x 8,192 reads, ~33,000 port exits, 2-3 s in the rig
// (whose emulated CPU is AMD family 0Fh, which KVM passes on to the guest). berth's
// machine has no AGP bridge, no GART northbridge and none of the chipsets the early
// quirks fix (early_quirks(), the other user), so the scan can only find nothing;
// the PCI subsystem proper still uses mechanism #1 through the DSDT's PCI0.
inline constexpr const char* linux_base_cmdline = "console=ttyS0 reboot=k panic=-1 pci=noearly";
// With --console hvc0 the virtio-console takes the serial port's place.
inline constexpr const char* linux_serial_console = "console=ttyS0";
inline constexpr const char* linux_virtio_console = "console=hvc0";

// What --image adds to the command line for a disk without partitions: the image is the
// first virtio-blk disk. A partitioned image brings its boot entry's options instead.
inline constexpr const char* linux_image_root_cmdline = boot::whole_disk_root_options;

// What a guest reboot does: end berth with status 0 (as Firecracker does), or start
// the guest again (as QEMU does without -no-reboot).
enum class OnReboot { exit, restart };

// --module FILE[,ARGS]: a Multiboot module, whose string is "FILE ARGS".
struct MultibootModuleSpec {
    std::filesystem::path path;
    std::string arguments;

    // FILE[,ARGS]: everything after the first comma is the arguments.
    static MultibootModuleSpec parse(const std::string& value);
};

struct LinuxVmOptions {
    std::filesystem::path kernel;
    // --image: a disk image (raw or qcow2, whole-disk ext4 or partitioned) holding the
    // kernel, initrd and command line (boot/disk_boot.hpp; then `kernel` and `initrd`
    // are unused). The caller attaches it as the first disk; its boot options go in
    // front of extra_cmdline.
    std::optional<devices::block::DiskSpec> image;
    // With a Multiboot kernel, the initrd is its first module.
    std::optional<std::filesystem::path> initrd;
    std::vector<MultibootModuleSpec> modules;  // --module, Multiboot kernels only
    // Appended to linux_base_cmdline; for a Multiboot kernel, to the kernel's path.
    std::string extra_cmdline;
    std::uint32_t cpus = 1;
    std::uint64_t memory_size = linux_default_memory;
    // --hugepages: guest RAM from the host's 2 MiB hugetlbfs pool instead of ordinary
    // (THP-advised) memory.
    memory::PageSize guest_pages = memory::PageSize::normal;
    OnReboot on_reboot = OnReboot::exit;  // --reboot
    TraceExits trace_exits = TraceExits::off;
    QemuDebugExit qemu_debug_exit = QemuDebugExit::off;  // --debug-exit 0xf4
    std::vector<FwCfgFileSpec> fw_cfg_files;             // --fw-cfg
    PciDeviceOptions pci;  // --disk, --rng, --console: the virtio-pci devices
    // Where to write the Chrome trace-event JSON of every exit; empty for none.
    std::filesystem::path trace_file;
    // --api-socket: where to serve the control API (vmm/api/api_server.hpp); empty
    // for none.
    std::filesystem::path api_socket;
    // --restore DIR: resume the VM saved in DIR (docs/snapshots.md) instead of booting;
    // the machine (vCPUs, memory, devices, console) is the snapshot's, and only
    // api_socket and the trace options of these options count.
    std::filesystem::path restore;
    // --restore-memory: how the snapshot's memory file becomes guest RAM (FileLoad).
    memory::FileLoad restore_memory = memory::FileLoad::lazy;
    // With FileLoad::lazy: pre-fault the snapshot's recorded working set, or record it
    // when there is none (vmm/machine/working_set.hpp); only on a kernel that has
    // KVM_PRE_FAULT_MEMORY. --restore-memory working-set (the default).
    bool restore_working_set = true;
    // --seccomp: every thread confined by its kind's list (vmm/sandbox/lists/).
    sandbox::Seccomp seccomp = sandbox::Seccomp::on;
};

// The full kernel command line for `options`; `image_options` (what an --image's boot
// entry says) go between berth's own and extra_cmdline.
std::string linux_cmdline(const LinuxVmOptions& options, std::string_view image_options = {});

// Validates everything it can before touching KVM (bad input throws), boots the guest
// and returns berth's exit status.
int run_linux_vm(const LinuxVmOptions& options);

}  // namespace berth::machine
