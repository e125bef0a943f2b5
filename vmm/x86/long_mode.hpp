#pragma once
// The CPU state the Linux 64-bit boot protocol asks for: long mode with paging,
// an identity map of the low 4 GiB, a GDT with flat __BOOT_CS (0x10) and __BOOT_DS
// (0x18) segments, interrupts off.

#include "vmm/kvm/kvm_abi.hpp"

#include <cstdint>
#include <span>

#include "vmm/memory/guest_memory.hpp"

namespace berth::x86 {

inline constexpr std::uint16_t boot_code_selector = 0x10;
inline constexpr std::uint16_t boot_data_selector = 0x18;
inline constexpr std::uint64_t identity_mapped_bytes = 4ULL << 30;
// PML4 + PDPT + 4 page directories of 2 MiB pages.
inline constexpr std::uint64_t page_tables_size = 6 * 4096;

// GDT entries: null, null, 64-bit code, data.
inline constexpr std::uint64_t gdt_entries[] = {
    0, 0,
    0x00af9b000000ffff,  // code: present, ring 0, execute/read, long mode, 4 KiB granules
    0x00cf93000000ffff,  // data: present, ring 0, read/write, 32-bit, 4 KiB granules
};

// Writes the page tables at `address` (page aligned) mapping guest-virtual to the
// same guest-physical address for the first 4 GiB with 2 MiB pages.
void write_identity_page_tables(memory::GuestMemory& memory, std::uint64_t address);

void write_gdt(memory::GuestMemory& memory, std::uint64_t address);

// Long mode, paging on (CR3 = page_tables), flat segments from the GDT at `gdt`.
void set_long_mode_sregs(kvm_sregs& sregs, std::uint64_t gdt, std::uint64_t page_tables);

// 32-bit protected mode without paging, flat `code` and `data` segments from the GDT
// `entries` at `gdt`, interrupts off: the state Multiboot kernels are entered in.
void set_protected_mode_sregs(kvm_sregs& sregs, std::uint64_t gdt,
                              std::span<const std::uint64_t> entries, std::uint16_t code,
                              std::uint16_t data);

}  // namespace berth::x86
