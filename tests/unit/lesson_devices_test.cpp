// The small devices the firmware lessons talk to: debug exit, mmio echo, pv console.
#include <catch2/catch.hpp>

#include <array>
#include <cstring>
#include <string>

#include "devices/misc/debug_exit.hpp"
#include "devices/misc/mmio_echo.hpp"
#include "devices/misc/pv_console.hpp"
#include "tests/unit/byte_compare.hpp"
#include "vmm/memory/guest_memory.hpp"

using berth::devices::DebugExit;
using berth::devices::MmioEcho;
using berth::devices::PvConsole;
using berth::test::same_bytes;

TEST_CASE("debug exit: the first value written is the status", "[devices]") {
    DebugExit device;
    CHECK_FALSE(device.requested_status().has_value());
    std::array<std::uint8_t, 1> read{0xaa};
    device.io_read(0, read);
    CHECK(read[0] == 0);
    const std::array<std::uint8_t, 2> seven{7, 1};
    device.io_write(0, seven);
    const std::array<std::uint8_t, 1> three{3};
    device.io_write(0, three);
    CHECK(device.requested_status() == 7);
}

TEST_CASE("mmio echo: id, upper-cased echo, write counter", "[devices]") {
    MmioEcho device;
    std::array<std::uint8_t, 4> dword{};
    device.mmio_read(MmioEcho::id_register, dword);
    CHECK(std::string(dword.begin(), dword.end()) == "BRTH");
    const std::array<std::uint8_t, 1> letter{'q'};
    device.mmio_write(MmioEcho::echo_register, letter);
    std::array<std::uint8_t, 1> byte{};
    device.mmio_read(MmioEcho::echo_register, byte);
    CHECK(byte[0] == 'Q');
    const std::array<std::uint8_t, 4> word{'a', '1', 'z', '~'};
    device.mmio_write(MmioEcho::echo_register, word);
    device.mmio_read(MmioEcho::echo_register, dword);
    CHECK(std::string(dword.begin(), dword.end()) == "A1Z~");
    device.mmio_read(MmioEcho::writes_register, dword);
    CHECK(same_bytes(dword, std::array<std::uint8_t, 4>{2, 0, 0, 0}));
    device.mmio_read(0x100, dword);
    CHECK(same_bytes(dword, std::array<std::uint8_t, 4>{0, 0, 0, 0}));
}

namespace {

struct PvRig {
    berth::memory::GuestRam memory;
    std::string printed;
    PvConsole console{memory, [this](std::span<const std::uint8_t> bytes) {
                          printed.append(bytes.begin(), bytes.end());
                      }};
    static constexpr std::uint64_t ring = 0x1000;

    PvRig() { memory.add_ram(0, 0x10000); }

    void port_write32(std::uint16_t offset, std::uint32_t value) {
        std::array<std::uint8_t, 4> bytes{};
        std::memcpy(bytes.data(), &value, 4);
        console.io_write(offset, bytes);
    }
    std::uint32_t status() {
        std::array<std::uint8_t, 4> bytes{};
        console.io_read(8, bytes);
        std::uint32_t value = 0;
        std::memcpy(&value, bytes.data(), 4);
        return value;
    }
    void header(std::uint16_t size, std::uint16_t avail, std::uint16_t used) {
        const std::array<std::uint16_t, 4> words{size, avail, used, 0};
        memory.write_object(ring, words);
    }
    void descriptor(unsigned index, std::uint64_t address, std::uint32_t length) {
        memory.write_object(ring + 8 + 16 * index, address);
        memory.write_object(ring + 8 + 16 * index + 8, length);
    }
    std::uint32_t result(unsigned index) {
        return memory.read_object<std::uint32_t>(ring + 8 + 16 * index + 12);
    }
    std::uint16_t used() { return memory.read_object<std::uint16_t>(ring + 4); }
};

}  // namespace

TEST_CASE("pv console consumes published buffers with one notify", "[devices]") {
    PvRig rig;
    const std::string a = "hello ", b = "ring\n";
    rig.memory.write(0x2000, std::span(reinterpret_cast<const std::uint8_t*>(a.data()), a.size()));
    rig.memory.write(0x3000, std::span(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()));
    rig.header(2, 2, 0);
    rig.descriptor(0, 0x2000, 6);
    rig.descriptor(1, 0x3000, 5);
    rig.port_write32(0, PvRig::ring);
    rig.port_write32(4, 1);
    CHECK(rig.printed == "hello ring\n");
    CHECK(rig.used() == 2);
    CHECK(rig.result(0) == 6);
    CHECK(rig.result(1) == 5);
    CHECK(rig.status() == 0);

    // The counters run on and wrap: buffer number 2 lives in descriptor 0 again.
    rig.header(2, 3, 2);
    rig.descriptor(0, 0x3000, 4);
    rig.port_write32(4, 1);
    CHECK(rig.printed == "hello ring\nring");
    CHECK(rig.used() == 3);
}

TEST_CASE("pv console refuses a bad buffer and a bad ring without throwing", "[devices]") {
    PvRig rig;
    rig.port_write32(4, 1);
    CHECK(rig.status() == static_cast<std::uint32_t>(PvConsole::Status::no_ring));

    rig.header(2, 2, 0);
    rig.descriptor(0, 0xfff00000, 16);  // outside RAM
    rig.descriptor(1, 0xfff0, 0x20);    // runs off the end of RAM
    rig.port_write32(0, PvRig::ring);
    rig.port_write32(4, 1);
    CHECK(rig.result(0) == PvConsole::refused);
    CHECK(rig.result(1) == PvConsole::refused);
    CHECK(rig.used() == 2);
    CHECK(rig.status() == static_cast<std::uint32_t>(PvConsole::Status::bad_buffer));
    CHECK(rig.printed.empty());

    rig.header(2, 9, 2);  // 7 pending in a ring of 2: nonsense
    rig.port_write32(4, 1);
    CHECK(rig.status() == static_cast<std::uint32_t>(PvConsole::Status::bad_ring));
    rig.header(65, 0, 0);
    rig.port_write32(4, 1);
    CHECK(rig.status() == static_cast<std::uint32_t>(PvConsole::Status::bad_ring));
    rig.port_write32(0, 0xfffc);  // header crosses the end of RAM
    rig.port_write32(4, 1);
    CHECK(rig.status() == static_cast<std::uint32_t>(PvConsole::Status::bad_ring));
}
