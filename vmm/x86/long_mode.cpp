#include "vmm/x86/long_mode.hpp"

namespace berth::x86 {

namespace {

constexpr std::uint64_t page_present = 1ULL << 0;
constexpr std::uint64_t page_writable = 1ULL << 1;
constexpr std::uint64_t page_large = 1ULL << 7;  // a 2 MiB page in a page directory
constexpr std::uint64_t table_bytes = 4096;
constexpr std::uint64_t entries_per_table = 512;
constexpr std::uint64_t large_page = 2ULL << 20;

constexpr std::uint64_t cr0_pe = 1ULL << 0;
constexpr std::uint64_t cr0_mp = 1ULL << 1;
constexpr std::uint64_t cr0_et = 1ULL << 4;
constexpr std::uint64_t cr0_ne = 1ULL << 5;
constexpr std::uint64_t cr0_pg = 1ULL << 31;
constexpr std::uint64_t cr4_pae = 1ULL << 5;
constexpr std::uint64_t efer_lme = 1ULL << 8;
constexpr std::uint64_t efer_lma = 1ULL << 10;

kvm_segment segment_from_descriptor(std::uint64_t entry, std::uint16_t selector) {
    kvm_segment segment{};
    segment.selector = selector;
    segment.base = 0;
    segment.limit = 0xffffffff;  // with 4 KiB granularity: all of it
    segment.type = static_cast<std::uint8_t>((entry >> 40) & 0xf);
    segment.s = static_cast<std::uint8_t>((entry >> 44) & 1);
    segment.dpl = static_cast<std::uint8_t>((entry >> 45) & 3);
    segment.present = static_cast<std::uint8_t>((entry >> 47) & 1);
    segment.avl = static_cast<std::uint8_t>((entry >> 52) & 1);
    segment.l = static_cast<std::uint8_t>((entry >> 53) & 1);
    segment.db = static_cast<std::uint8_t>((entry >> 54) & 1);
    segment.g = static_cast<std::uint8_t>((entry >> 55) & 1);
    return segment;
}

kvm_segment segment_from_gdt(std::uint16_t selector) {
    return segment_from_descriptor(gdt_entries[selector >> 3], selector);
}

}  // namespace

void write_identity_page_tables(memory::GuestMemory& memory, std::uint64_t address) {
    const std::uint64_t pml4 = address;
    const std::uint64_t pdpt = address + table_bytes;
    const std::uint64_t first_pd = address + 2 * table_bytes;
    const std::uint64_t directories = identity_mapped_bytes / (large_page * entries_per_table);
    memory.fill(address, page_tables_size, 0);
    memory.write_object(pml4, pdpt | page_present | page_writable);
    for (std::uint64_t d = 0; d < directories; ++d) {
        const std::uint64_t pd = first_pd + d * table_bytes;
        memory.write_object(pdpt + d * 8, pd | page_present | page_writable);
        for (std::uint64_t e = 0; e < entries_per_table; ++e) {
            const std::uint64_t physical = (d * entries_per_table + e) * large_page;
            memory.write_object(pd + e * 8, physical | page_present | page_writable | page_large);
        }
    }
}

void write_gdt(memory::GuestMemory& memory, std::uint64_t address) {
    for (std::size_t i = 0; i < std::size(gdt_entries); ++i) {
        memory.write_object(address + i * 8, gdt_entries[i]);
    }
}

void set_long_mode_sregs(kvm_sregs& sregs, std::uint64_t gdt, std::uint64_t page_tables) {
    sregs.gdt.base = gdt;
    sregs.gdt.limit = static_cast<std::uint16_t>(sizeof(gdt_entries) - 1);
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cs = segment_from_gdt(boot_code_selector);
    const kvm_segment data = segment_from_gdt(boot_data_selector);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.cr0 = cr0_pe | cr0_mp | cr0_et | cr0_ne | cr0_pg;
    sregs.cr3 = page_tables;
    sregs.cr4 = cr4_pae;
    sregs.efer = efer_lme | efer_lma;
}

void set_protected_mode_sregs(kvm_sregs& sregs, std::uint64_t gdt,
                              std::span<const std::uint64_t> entries, std::uint16_t code,
                              std::uint16_t data) {
    sregs.gdt.base = gdt;
    sregs.gdt.limit = static_cast<std::uint16_t>(entries.size_bytes() - 1);
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cs = segment_from_descriptor(entries[code >> 3], code);
    const kvm_segment data_segment = segment_from_descriptor(entries[data >> 3], data);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data_segment;
    // Paging, caches' CD/NW and everything in CR4 and EFER off: only PE (and ET, which
    // is hard-wired to 1 on every CPU since the 486).
    sregs.cr0 = cr0_pe | cr0_et;
    sregs.cr3 = 0;
    sregs.cr4 = 0;
    sregs.efer = 0;
}

}  // namespace berth::x86
