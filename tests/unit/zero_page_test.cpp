#include <catch2/catch.hpp>

#include <asm/e820.h>

#include <cstdint>
#include <string>

#include "tests/unit/byte_compare.hpp"
#include "tests/unit/linux_boot_test_image.hpp"
#include "vmm/boot/bzimage.hpp"
#include "vmm/boot/linux_layout.hpp"
#include "vmm/boot/zero_page.hpp"
#include "vmm/common/error.hpp"
#include "vmm/memory/platform_layout.hpp"

// The Linux boot structs are packed, and CHECK binds a reference to each operand: a
// reference to a packed field may be misaligned (undefined; clang's UBSan reports it).
// Their fields are compared as copies, std::uint32_t{hdr.init_size}.

using namespace berth;
using test::as_number;

namespace {

constexpr std::uint64_t mib = 1ULL << 20;
constexpr std::uint64_t gib = 1ULL << 30;

boot::BzImage test_kernel() {
    return boot::parse_bzimage(test::crafted_bzimage(), "vmlinuz-test");
}

// Sum of usable RAM in the map, and a check that entries are sorted and disjoint.
std::uint64_t usable_bytes(const std::vector<boot_e820_entry>& map) {
    std::uint64_t total = 0;
    std::uint64_t previous_end = 0;
    for (const auto& entry : map) {
        CHECK(std::uint64_t{entry.addr} >= previous_end);
        previous_end = entry.addr + entry.size;
        if (entry.type == E820_RAM) {
            total += entry.size;
        }
    }
    return total;
}

bool covered_as_ram(const std::vector<boot_e820_entry>& map, std::uint64_t address) {
    for (const auto& entry : map) {
        if (entry.type == E820_RAM && address >= entry.addr && address < entry.addr + entry.size) {
            return true;
        }
    }
    return false;
}

}  // namespace

TEST_CASE("e820 map of a small guest: RAM below 640 KiB and from 1 MiB", "[boot][zero-page]") {
    const auto map = boot::e820_map(256 * mib);
    REQUIRE(map.size() == 4);
    CHECK(map.front().addr == 0);
    CHECK(map.front().type == E820_RAM);
    CHECK(std::uint64_t{map.back().addr} == 1 * mib);
    CHECK(map.back().addr + map.back().size == 256 * mib);
    CHECK(map.back().type == E820_RAM);
    // The BIOS area with the ACPI tables is reserved, not RAM.
    CHECK_FALSE(covered_as_ram(map, boot::acpi_tables_address));
    CHECK_FALSE(covered_as_ram(map, boot::ebda_address));
    CHECK(covered_as_ram(map, boot::zero_page_address));
    CHECK(usable_bytes(map) == 256 * mib - (1 * mib - boot::ebda_address));
}

TEST_CASE("e820 map of a large guest leaves the hole below 4 GiB", "[boot][zero-page]") {
    const auto map = boot::e820_map(6 * gib);
    REQUIRE(map.size() == 5);
    // Low RAM stops at 3 GiB, the rest continues at 4 GiB.
    CHECK(map[3].addr + map[3].size == layout::low_ram_limit);
    CHECK(map[4].addr == layout::high_ram_address);
    CHECK(map[4].size == 6 * gib - layout::low_ram_limit);
    CHECK(map[4].type == E820_RAM);
    CHECK_FALSE(covered_as_ram(map, 0xfee00000));  // the local APIC
    CHECK_FALSE(covered_as_ram(map, 0xfec00000));  // the IOAPIC
    CHECK(covered_as_ram(map, 3 * gib - 1));
    CHECK(covered_as_ram(map, 4 * gib));
    CHECK(covered_as_ram(map, 7 * gib - 1));
    CHECK_FALSE(covered_as_ram(map, 7 * gib));
    CHECK(usable_bytes(map) == 6 * gib - (1 * mib - boot::ebda_address));
}

TEST_CASE("e820 map of exactly 3 GiB has no high RAM", "[boot][zero-page]") {
    const auto map = boot::e820_map(3 * gib);
    CHECK(map.size() == 4);
    CHECK(map.back().addr + map.back().size == 3 * gib);
}

TEST_CASE("the initrd goes high, page aligned, within initrd_addr_max and RAM",
          "[boot][zero-page]") {
    const auto kernel = test_kernel();
    SECTION("RAM below initrd_addr_max") {
        const auto place = boot::place_initrd(kernel, 256 * mib, 12345, "initrd.img");
        CHECK(place.size == 12345);
        CHECK(place.address % 4096 == 0);
        CHECK(place.address + place.size <= 256 * mib);
        CHECK(place.address == 256 * mib - 16384);  // as high as RAM allows
        CHECK(place.address >= kernel.runtime_end());
    }
    SECTION("RAM above initrd_addr_max (2 GiB - 1)") {
        const auto place = boot::place_initrd(kernel, 6 * gib, 5 * mib + 1, "initrd.img");
        CHECK(place.address % 4096 == 0);
        CHECK(place.address + place.size - 1 <= std::uint32_t{kernel.header.initrd_addr_max});
        CHECK(place.address + 5 * mib + 4096 == 2 * gib);
    }
    SECTION("a kernel with a low initrd_addr_max") {
        auto header = test::good_setup_header();
        header.initrd_addr_max = 0x37ffffff;
        const auto low = boot::parse_bzimage(test::crafted_bzimage(header), "old");
        const auto place = boot::place_initrd(low, 2 * gib, 4096, "initrd.img");
        CHECK(place.address == 0x38000000 - 4096);
    }
}

TEST_CASE("an initrd that does not fit is bad input", "[boot][zero-page]") {
    const auto kernel = test_kernel();
    try {
        boot::place_initrd(kernel, 64 * mib, 65 * mib, "big.img");
        FAIL("accepted an initrd larger than RAM");
    } catch (const Error& e) {
        CHECK(e.status() == ExitStatus::bad_input);
        CHECK_THAT(std::string(e.what()), Catch::Contains("initrd big.img") &&
                                              Catch::Contains("larger than the guest's memory"));
    }
    try {
        // Fits in RAM but not above where the kernel runs (up to 48 MiB).
        boot::place_initrd(kernel, 64 * mib, 20 * mib, "mid.img");
        FAIL("accepted an initrd overlapping the kernel");
    } catch (const Error& e) {
        CHECK(e.status() == ExitStatus::bad_input);
        CHECK_THAT(std::string(e.what()), Catch::Contains("memory 64 MiB is too small") &&
                                              Catch::Contains("give the guest") &&
                                              !Catch::Contains("--"));
    }
}

TEST_CASE("a command line longer than the kernel accepts is bad input", "[boot][zero-page]") {
    const auto kernel = test_kernel();
    CHECK_NOTHROW(boot::check_cmdline(kernel, std::string(2047, 'x'), 30));
    CHECK_THROWS_WITH(boot::check_cmdline(kernel, std::string(2048, 'x'), 30),
                      Catch::Contains("kernel command line is 2048 bytes") &&
                          Catch::Contains("2047") && !Catch::Contains("--"));
}

TEST_CASE("a kernel too small for berth's own parameters blames its header", "[boot][zero-page]") {
    auto header = test::good_setup_header();
    header.cmdline_size = 0;
    const auto kernel = boot::parse_bzimage(test::crafted_bzimage(header), "k");
    CHECK_THROWS_WITH(boot::check_cmdline(kernel, std::string(30, 'x'), 30),
                      Catch::Contains("cmdline_size") && Catch::Contains("header is corrupt") &&
                          !Catch::Contains("fewer kernel parameters"));
}

TEST_CASE("the zero page carries the header, command line, initrd and memory map",
          "[boot][zero-page]") {
    const auto kernel = test_kernel();
    const boot::InitrdPlacement initrd{0x7000000, 0x123456};
    const boot::ZeroPageInputs inputs{6 * gib, boot::cmdline_address, initrd, 0xe0000};
    const boot_params params = boot::build_zero_page(kernel, inputs);

    CHECK(std::uint32_t{params.hdr.header} == 0x53726448);
    CHECK(std::uint16_t{params.hdr.version} == std::uint16_t{kernel.header.version});
    CHECK(std::uint32_t{params.hdr.init_size} == std::uint32_t{kernel.header.init_size});
    CHECK(as_number(params.hdr.type_of_loader) == 0xff);
    CHECK((params.hdr.loadflags & LOADED_HIGH) != 0);
    CHECK((params.hdr.loadflags & CAN_USE_HEAP) != 0);
    CHECK(params.hdr.code32_start == boot::kernel_load_address);
    CHECK(params.hdr.cmd_line_ptr == boot::cmdline_address);
    CHECK(params.ext_cmd_line_ptr == 0);
    CHECK(params.hdr.ramdisk_image == 0x7000000);
    CHECK(params.hdr.ramdisk_size == 0x123456);
    CHECK(params.ext_ramdisk_image == 0);
    CHECK(params.acpi_rsdp_addr == 0xe0000);

    const auto map = boot::e820_map(6 * gib);
    REQUIRE(params.e820_entries == map.size());
    for (std::size_t i = 0; i < map.size(); ++i) {
        CHECK(std::uint64_t{params.e820_table[i].addr} == std::uint64_t{map[i].addr});
        CHECK(std::uint64_t{params.e820_table[i].size} == std::uint64_t{map[i].size});
        CHECK(params.e820_table[i].type == map[i].type);
    }
}

TEST_CASE("without an initrd the zero page names none", "[boot][zero-page]") {
    const boot::ZeroPageInputs inputs{256 * mib, boot::cmdline_address, std::nullopt, 0};
    const boot_params params = boot::build_zero_page(test_kernel(), inputs);
    CHECK(params.hdr.ramdisk_image == 0);
    CHECK(params.hdr.ramdisk_size == 0);
    CHECK(params.acpi_rsdp_addr == 0);
    CHECK(params.e820_entries == 4);
}
