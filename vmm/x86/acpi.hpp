#pragma once
// The smallest ACPI that a stock Linux needs to count its CPUs and to power off:
// RSDP -> XSDT -> {FADT -> DSDT, MADT}. The FADT declares a hardware-reduced platform
// (no PM timer, no SCI, no legacy PIC) whose sleep control register is one I/O port;
// the DSDT defines \_S5_ (soft-off), COM1 and, when asked for, the PCI host bridge
// and a power button.
// Guest `poweroff` then writes SLP_TYP=5 with SLP_EN to that port and berth ends the
// VM. The MADT lists one local APIC per vCPU and the in-kernel IOAPIC.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace berth::x86 {

// What DSDT's \_S5_ says to write into SLP_TYP for soft-off.
inline constexpr std::uint8_t acpi_s5_sleep_type = 5;

struct AcpiTables {
    std::vector<std::uint8_t> bytes;  // to be copied to `base`
    std::uint64_t rsdp_address;
    std::uint64_t xsdt_address;
    std::uint64_t fadt_address;
    std::uint64_t dsdt_address;
    std::uint64_t madt_address;
};

// PCI bus 0 behind configuration mechanism #1, with BARs in one 32-bit memory window.
struct PciHostBridge {
    std::uint64_t window_base;
    std::uint64_t window_size;
};

// What the tables describe beyond the CPUs, COM1 and soft-off; each only when given.
struct AcpiDevices {
    // The DSDT describes the PCI host bridge.
    std::optional<PciHostBridge> pci;
    // The FADT names an ACPI PM timer there (PM_TMR_BLK and X_PM_TMR_BLK, 24 bits).
    std::optional<std::uint16_t> pm_timer_port;
    // A power button (PNP0C0C) behind a Generic Event Device (ACPI0013) that
    // interrupts on this GSI, edge-triggered: its _EVT notifies the button (0x80,
    // "pressed"), and the guest's OS decides what to do, as on a real machine. A
    // hardware-reduced platform has no fixed power button; this is its way.
    std::optional<std::uint32_t> power_button_gsi;
};

// Builds the tables for a guest of `cpu_count` vCPUs, to live at guest address `base`.
AcpiTables build_acpi_tables(std::uint64_t base, std::uint32_t cpu_count,
                             const AcpiDevices& devices = {});

// The byte that makes `bytes` sum to zero (mod 256) when stored in a zeroed checksum field.
std::uint8_t acpi_checksum(std::span<const std::uint8_t> bytes);

}  // namespace berth::x86
