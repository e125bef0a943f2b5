#include <catch2/catch.hpp>

#include <optional>

#include "vmm/boot/linux_layout.hpp"
#include "vmm/memory/guest_memory.hpp"
#include "vmm/x86/long_mode.hpp"

using namespace berth;

namespace {

constexpr std::uint64_t present = 1;
constexpr std::uint64_t large = 1ULL << 7;
constexpr std::uint64_t address_bits = 0x000ffffffffff000ULL;

// Walks the 4-level tables at `cr3` like the MMU does; nullopt when not mapped.
std::optional<std::uint64_t> translate(const memory::GuestMemory& memory, std::uint64_t cr3,
                                       std::uint64_t virt) {
    std::uint64_t table = cr3;
    const int shifts[] = {39, 30, 21, 12};
    for (int level = 0; level < 4; ++level) {
        const std::uint64_t index = (virt >> shifts[level]) & 0x1ff;
        const auto entry = memory.read_object<std::uint64_t>(table + index * 8);
        if ((entry & present) == 0) {
            return std::nullopt;
        }
        if (level == 2 && (entry & large) != 0) {
            return (entry & 0x000fffffffe00000ULL) | (virt & 0x1fffff);
        }
        REQUIRE(level < 3);  // berth maps 2 MiB pages only; no 4 KiB page tables
        table = entry & address_bits;
    }
    return std::nullopt;
}

}  // namespace

TEST_CASE("identity page tables map the low 4 GiB with 2 MiB pages", "[x86][long-mode]") {
    memory::GuestRam memory;
    memory.add_ram(0, 1 << 20);
    const std::uint64_t cr3 = boot::page_tables_address;
    x86::write_identity_page_tables(memory, cr3);

    for (std::uint64_t virt :
         {0x0ULL, 0x7c00ULL, 0x100000ULL, 0x1234567ULL, 0x40201234ULL, 0xbfffffffULL, 0xfec00000ULL,
          0xfee00020ULL, 0xffe00000ULL, 0xfffff000ULL, 0xffffffffULL}) {
        INFO("virtual address " << std::hex << virt);
        const auto phys = translate(memory, cr3, virt);
        REQUIRE(phys.has_value());
        CHECK(*phys == virt);
    }
    // The last 2 MiB page below 4 GiB is a large page in the fourth directory.
    const auto pdpt = memory.read_object<std::uint64_t>(cr3) & address_bits;
    const auto pd3 = memory.read_object<std::uint64_t>(pdpt + 3 * 8) & address_bits;
    const auto last = memory.read_object<std::uint64_t>(pd3 + 511 * 8);
    CHECK((last & large) != 0);
    CHECK((last & 0x000fffffffe00000ULL) == 0xffe00000ULL);
    // Nothing from 4 GiB up, and the tables fit where the layout reserves room for them.
    CHECK_FALSE(translate(memory, cr3, 0x100000000ULL).has_value());
    CHECK_FALSE(translate(memory, cr3, 0x8000000000ULL).has_value());
    CHECK(cr3 + x86::page_tables_size <= 0xf000);
}

TEST_CASE("the GDT holds flat 64-bit code and data segments", "[x86][long-mode]") {
    memory::GuestRam memory;
    memory.add_ram(0, 64 * 1024);
    x86::write_gdt(memory, boot::gdt_address);
    const auto code =
        memory.read_object<std::uint64_t>(boot::gdt_address + x86::boot_code_selector);
    const auto data =
        memory.read_object<std::uint64_t>(boot::gdt_address + x86::boot_data_selector);
    CHECK(memory.read_object<std::uint64_t>(boot::gdt_address) == 0);
    CHECK(code == 0x00af9b000000ffffULL);
    CHECK(data == 0x00cf93000000ffffULL);
    // Code: present, DPL 0, code segment, L set and D clear (64-bit), 4 KiB granules.
    CHECK(((code >> 47) & 1) == 1);
    CHECK(((code >> 45) & 3) == 0);
    CHECK(((code >> 43) & 1) == 1);
    CHECK(((code >> 53) & 1) == 1);
    CHECK(((code >> 54) & 1) == 0);
    // Data: present, writable data segment.
    CHECK(((data >> 47) & 1) == 1);
    CHECK(((data >> 43) & 1) == 0);
    CHECK(((data >> 41) & 1) == 1);
}

TEST_CASE("long-mode sregs: paging, PAE, LME/LMA and the boot selectors", "[x86][long-mode]") {
    kvm_sregs sregs{};
    x86::set_long_mode_sregs(sregs, boot::gdt_address, boot::page_tables_address);
    CHECK(sregs.gdt.base == boot::gdt_address);
    CHECK(sregs.gdt.limit == 4 * 8 - 1);
    CHECK(sregs.cr3 == boot::page_tables_address);
    CHECK((sregs.cr0 & 1) == 1);              // PE
    CHECK((sregs.cr0 & (1ULL << 31)) != 0);   // PG
    CHECK((sregs.cr4 & (1ULL << 5)) != 0);    // PAE
    CHECK((sregs.efer & (1ULL << 8)) != 0);   // LME
    CHECK((sregs.efer & (1ULL << 10)) != 0);  // LMA
    CHECK(sregs.cs.selector == x86::boot_code_selector);
    CHECK(sregs.cs.l == 1);
    CHECK(sregs.cs.db == 0);
    CHECK(sregs.cs.present == 1);
    CHECK(sregs.ds.selector == x86::boot_data_selector);
    CHECK(sregs.ss.selector == x86::boot_data_selector);
    CHECK(sregs.ds.base == 0);
    CHECK(sregs.ds.limit == 0xffffffff);
}
