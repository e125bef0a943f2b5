// QEMU's isa-debug-exit rule on berth's port 0xf4: (v << 1) | 1, kept to one byte.
#include <catch2/catch.hpp>

#include <array>
#include <memory>

#include "devices/misc/debug_exit.hpp"
#include "devices/misc/qemu_debug_exit.hpp"
#include "tests/unit/byte_compare.hpp"

using berth::devices::DebugExit;
using berth::devices::QemuDebugExit;
using berth::test::same_bytes;

TEST_CASE("qemu debug exit: status is (value << 1) | 1 in one byte", "[devices]") {
    CHECK(QemuDebugExit::status_for(0) == 1);
    CHECK(QemuDebugExit::status_for(0x10) == 33);
    CHECK(QemuDebugExit::status_for(0x31) == 99);
    CHECK(QemuDebugExit::status_for(0x7f) == 255);
    // Bit 7 and above fall off the 8-bit exit status, as with QEMU's exit().
    CHECK(QemuDebugExit::status_for(0x80) == 1);
    CHECK(QemuDebugExit::status_for(0x81) == 3);
    CHECK(QemuDebugExit::status_for(0xffffffff) == 255);
}

TEST_CASE("qemu debug exit: every write width ends the machine through DebugExit", "[devices]") {
    SECTION("outb") {
        auto exit = std::make_shared<DebugExit>();
        QemuDebugExit device(exit);
        device.io_write(0, std::array<std::uint8_t, 1>{0x10});
        CHECK(exit->requested_status() == 33);
    }
    SECTION("outw: the value is little endian") {
        auto exit = std::make_shared<DebugExit>();
        QemuDebugExit device(exit);
        device.io_write(0, std::array<std::uint8_t, 2>{0x02, 0x01});  // 0x0102
        CHECK(exit->requested_status() == 5);
    }
    SECTION("outl, then a second write that does not count") {
        auto exit = std::make_shared<DebugExit>();
        QemuDebugExit device(exit);
        device.io_write(0, std::array<std::uint8_t, 4>{0x31, 0, 0, 0});
        device.io_write(0, std::array<std::uint8_t, 4>{0x01, 0, 0, 0});
        CHECK(exit->requested_status() == 99);
    }
    SECTION("reads return 0 and end nothing") {
        auto exit = std::make_shared<DebugExit>();
        QemuDebugExit device(exit);
        std::array<std::uint8_t, 4> data{1, 2, 3, 4};
        device.io_read(0, data);
        CHECK(same_bytes(data, std::array<std::uint8_t, 4>{}));
        CHECK_FALSE(exit->requested_status().has_value());
    }
}
