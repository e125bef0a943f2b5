#pragma once
// Where berth's machines put things in the guest: the fixed guest-physical addresses
// and I/O ports of the platform, in one place. Everything that places something in
// the guest reads it from here (the machines in vmm/machine, the ACPI tables in
// vmm/x86, the e820 map in vmm/boot); device models take their address or port from
// whoever attaches them, so devices/ never needs it. It lives in the memory seam
// because that is the lowest seam all of those may include.
//
// Where the Linux loader puts its own structures inside low RAM (zero page, command
// line, page tables) is the loader's business: vmm/boot/linux_layout.hpp.

#include <cstdint>

namespace berth::layout {

// --- I/O ports ------------------------------------------------------------------------

// The PC keyboard controller: data at 0x60, command/status at 0x64 (the Linux machine's
// reset line, with reboot=k).
inline constexpr std::uint16_t i8042_port = 0x60;
// COM1, an 8250 UART (eight registers), and its ISA interrupt line.
inline constexpr std::uint16_t com1_port = 0x3f8;
inline constexpr std::uint32_t com1_irq = 4;
// The ACPI power button's interrupt (its Generic Event Device's, edge-triggered): the
// first IOAPIC pin past the ISA range, where no legacy device is assumed.
inline constexpr std::uint32_t acpi_power_button_gsi = 16;
// PCI configuration mechanism #1: address at 0xCF8, data at 0xCFC (eight ports).
inline constexpr std::uint16_t pci_config_port = 0xcf8;
// The debug-exit port QEMU users write to (`-device isa-debug-exit,iobase=0xf4`):
// a value v ends berth with status (v << 1) | 1. Only with `--debug-exit 0xf4`, because
// it is also one of the PC's legacy math-coprocessor ports (0xf0-0xff).
inline constexpr std::uint16_t qemu_debug_exit_port = 0xf4;
// berth's own debug-exit port, always there: a guest byte written here becomes berth's
// exit status as it is. (QEMU's isa-debug-exit defaults to this port too, but with its
// (v << 1) | 1 rule; berth keeps the plain byte here.)
inline constexpr std::uint16_t debug_exit_port = 0x501;
// The guest says "I got here" (berth's initramfs at /init; `berth bench startup`).
inline constexpr std::uint16_t phase_port = 0x502;
// QEMU's firmware configuration device, fw_cfg: 16-bit selector at 0x510, data at
// 0x511 (where QEMU puts them on x86, so guests written for QEMU find it).
inline constexpr std::uint16_t fw_cfg_port = 0x510;
// The lessons' paravirtual console (lesson 6), firmware machine only; above fw_cfg's
// ports and the 0x514 QEMU gives fw_cfg's DMA register.
inline constexpr std::uint16_t pv_console_port = 0x520;
// ACPI's sleep control and status registers on the hardware-reduced platform (FADT).
inline constexpr std::uint16_t acpi_sleep_control_port = 0x600;
inline constexpr std::uint16_t acpi_sleep_status_port = 0x601;
// The ACPI PM timer (Multiboot kernels only; FADT PM_TMR_BLK), 4 ports, where QEMU's
// PIIX4 power management block has it.
inline constexpr std::uint16_t acpi_pm_timer_port = 0x608;

// --- Guest-physical addresses ---------------------------------------------------------

// RAM from 0 up to this; the rest of RAM starts at high_ram_address, leaving the hole
// below 4 GiB to the devices below.
inline constexpr std::uint64_t low_ram_limit = 0xc0000000;
inline constexpr std::uint64_t high_ram_address = 0x100000000;
// The lessons' mmio echo device (lesson 4), firmware machine only: its RAM ends below.
inline constexpr std::uint64_t mmio_echo_address = 0xd0000000;
// Where berth assigns PCI BARs: above low RAM, below the IOAPIC.
inline constexpr std::uint64_t pci_window_base = 0xe0000000;
inline constexpr std::uint64_t pci_window_size = 0x10000000;
// The in-kernel irqchip's IOAPIC and the LAPICs, where a PC has them (the MADT says so).
inline constexpr std::uint64_t ioapic_address = 0xfec00000;
inline constexpr std::uint64_t lapic_address = 0xfee00000;
// Intel VT's real-mode helpers: an identity-map page and three TSS pages, just below
// the BIOS ROM's place at the top of the hole, as on a PC.
inline constexpr std::uint64_t identity_map_address = 0xfffbc000;
inline constexpr std::uint64_t tss_address = 0xfffbd000;

}  // namespace berth::layout
