#pragma once
// Where berth puts things in a Linux guest's physical memory. The low 1 MiB holds
// the boot structures (all inside RAM the e820 map later reports as usable, except
// the BIOS area that holds the ACPI and MP tables); the kernel starts at 1 MiB.

#include <cstdint>

#include "vmm/memory/platform_layout.hpp"

namespace berth::boot {

inline constexpr std::uint64_t gdt_address = 0x500;
inline constexpr std::uint64_t zero_page_address = 0x7000;
inline constexpr std::uint64_t boot_stack_top = 0x8ff0;
inline constexpr std::uint64_t page_tables_address = 0x9000;  // PML4, PDPT, 4 PDs: 0x9000-0xefff
inline constexpr std::uint64_t cmdline_address = 0x20000;
inline constexpr std::uint64_t cmdline_max = 0x10000;  // also capped by the kernel's cmdline_size
// The top of conventional memory: from here to 1 MiB is the EBDA, VGA and BIOS area.
inline constexpr std::uint64_t ebda_address = 0x9fc00;
inline constexpr std::uint64_t bios_area_address = 0xe0000;  // ACPI tables, then the MP table
inline constexpr std::uint64_t acpi_tables_address = 0xe0000;
inline constexpr std::uint64_t mp_table_address = 0xf0000;
inline constexpr std::uint64_t high_memory_address = 0x100000;

// The guest-physical RAM ranges for a guest of `memory_size` bytes.
struct RamLayout {
    std::uint64_t low_size;   // RAM from 0
    std::uint64_t high_size;  // RAM from layout::high_ram_address

    static RamLayout for_size(std::uint64_t memory_size) {
        const std::uint64_t low =
            memory_size < layout::low_ram_limit ? memory_size : layout::low_ram_limit;
        return {low, memory_size - low};
    }
};

}  // namespace berth::boot
