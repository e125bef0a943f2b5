#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "tests/unit/linux_boot_test_image.hpp"
#include "vmm/boot/bzimage.hpp"
#include "vmm/common/error.hpp"
#include "vmm/memory/guest_memory.hpp"

// The Linux boot structs are packed, and CHECK binds a reference to each operand: a
// reference to a packed field may be misaligned (undefined; clang's UBSan reports it).
// Their fields are compared as copies, std::uint32_t{hdr.init_size}.

using namespace berth;
using berth::test::crafted_bzimage;
using berth::test::good_setup_header;

namespace {

// Parses `file` expecting bad input whose message contains `expected`.
void check_rejected(std::vector<std::uint8_t> file, const std::string& expected) {
    try {
        boot::parse_bzimage(std::move(file), "vmlinuz-test");
        FAIL("parse_bzimage accepted a bad image; expected: " << expected);
    } catch (const Error& e) {
        CHECK(e.status() == ExitStatus::bad_input);
        const std::string message = e.what();
        CHECK_THAT(message, Catch::Contains("kernel vmlinuz-test"));
        CHECK_THAT(message, Catch::Contains(expected));
    }
}

}  // namespace

TEST_CASE("a well-formed bzImage header is accepted", "[boot][bzimage]") {
    const auto image = boot::parse_bzimage(crafted_bzimage(), "vmlinuz-test");
    CHECK(image.name == "vmlinuz-test");
    CHECK(image.protocol() == 0x020f);
    CHECK(boot::protocol_text(image.protocol()) == "2.15");
    CHECK(image.setup_size == 5 * 512);
    CHECK(image.protected_mode().size() == berth::test::crafted_protected_size);
    CHECK(image.protected_mode()[1] == static_cast<std::uint8_t>((5 * 512 + 1) * 7));
    CHECK(std::uint32_t{image.header.init_size} == 0x2000000);
    // The kernel runs from its preferred address, which is above 1 MiB here.
    CHECK(image.runtime_start() == 0x1000000);
    CHECK(image.runtime_end() == 0x3000000);
}

TEST_CASE("setup_sects 0 means 4 sectors", "[boot][bzimage]") {
    auto header = good_setup_header();
    header.setup_sects = 0;
    const auto image = boot::parse_bzimage(crafted_bzimage(header), "vmlinuz-test");
    CHECK(image.setup_size == 5 * 512);
}

TEST_CASE("the protected-mode kernel is loaded at 1 MiB", "[boot][bzimage]") {
    const auto image = boot::parse_bzimage(crafted_bzimage(), "vmlinuz-test");
    memory::GuestRam memory;
    memory.add_ram(0, 4 << 20);
    boot::load_bzimage(image, memory);
    const auto loaded = memory.span(boot::kernel_load_address, image.protected_mode().size());
    CHECK(std::equal(loaded.begin(), loaded.end(), image.protected_mode().begin()));
}

TEST_CASE("bzImage header validation rejects bad images", "[boot][bzimage]") {
    SECTION("boot sector signature is not 0xAA55") {
        auto header = good_setup_header();
        header.boot_flag = 0x1234;
        check_rejected(crafted_bzimage(header), "is not a bzImage");
    }
    SECTION("no \"HdrS\" magic") {
        auto header = good_setup_header();
        header.header = 0x12345678;
        check_rejected(crafted_bzimage(header), "is not a bzImage");
    }
    SECTION("a file too short to hold the magic") {
        auto file = crafted_bzimage();
        file.resize(0x100);
        check_rejected(file, "is not a bzImage");
    }
    SECTION("an empty file") {
        check_rejected({}, "is not a bzImage");
    }
    SECTION("truncated inside the setup header") {
        auto file = crafted_bzimage();
        file.resize(0x230);
        check_rejected(file, "is truncated");
    }
    SECTION("truncated inside the protected-mode kernel") {
        auto file = crafted_bzimage();
        file.resize(file.size() - 1);
        check_rejected(file, "is truncated");
    }
    SECTION("truncated right after the setup part") {
        auto file = crafted_bzimage();
        file.resize(5 * 512);
        check_rejected(file, "is truncated");
    }
    SECTION("boot protocol older than 2.12") {
        auto header = good_setup_header();
        header.version = 0x020b;
        check_rejected(crafted_bzimage(header), "speaks boot protocol 2.11, berth needs 2.12");
    }
    SECTION("a zImage that loads low") {
        auto header = good_setup_header();
        header.loadflags = 0;
        check_rejected(crafted_bzimage(header), "is a zImage");
    }
    SECTION("no 64-bit entry point") {
        auto header = good_setup_header();
        header.xloadflags = 0;
        check_rejected(crafted_bzimage(header), "has no 64-bit entry point");
    }
    SECTION("not relocatable") {
        auto header = good_setup_header();
        header.relocatable_kernel = 0;
        check_rejected(crafted_bzimage(header), "is not relocatable");
    }
    SECTION("no init_size") {
        auto header = good_setup_header();
        header.init_size = 0;
        check_rejected(crafted_bzimage(header), "has no init_size");
    }
}
