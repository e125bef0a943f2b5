// The ACPI PM timer (devices/misc/pm_timer) and the FADT that names it (x86/acpi): the
// counter runs at 3.579545 MHz from zero, wraps at 24 bits, reads by byte or dword;
// the FADT has it only when asked (Multiboot kernels).

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <cstring>

#include "devices/misc/pm_timer.hpp"
#include "vmm/x86/acpi.hpp"

using berth::devices::PmTimer;

namespace {

std::uint32_t read32(PmTimer& timer) {
    std::array<std::uint8_t, 4> bytes{};
    timer.io_read(0, bytes);
    std::uint32_t value = 0;
    std::memcpy(&value, bytes.data(), 4);
    return value;
}

}  // namespace

TEST_CASE("the PM timer counts 3,579,545 ticks a second from zero") {
    CHECK(PmTimer::ticks_after(0) == 0);
    CHECK(PmTimer::ticks_after(1'000'000'000) == 3'579'545);
    CHECK(PmTimer::ticks_after(1'000) == 3);  // 3.58 ticks in a microsecond
    // A year in: no overflow of the 64-bit product.
    CHECK(PmTimer::ticks_after(365ULL * 86'400 * 1'000'000'000) == 365ULL * 86'400 * 3'579'545);

    std::uint64_t now = 5'000'000'000;
    PmTimer timer([&now] { return now; });
    CHECK(read32(timer) == 0);
    now += 1'000'000;  // 1 ms
    CHECK(read32(timer) == 3579);
}

TEST_CASE("the PM timer wraps at 24 bits and reads by byte") {
    std::uint64_t now = 0;
    PmTimer timer([&now] { return now; });
    now = 5'000'000'000;  // 17,897,725 ticks: past 2^24 = 16,777,216
    CHECK(read32(timer) == 17'897'725 - (1U << 24));
    std::array<std::uint8_t, 1> byte{};
    const std::uint32_t value = read32(timer);
    for (std::uint16_t offset = 0; offset < 4; ++offset) {
        timer.io_read(offset, byte);
        CHECK(byte[0] == static_cast<std::uint8_t>(value >> (8 * offset)));
    }
    const std::array<std::uint8_t, 4> ones{0xff, 0xff, 0xff, 0xff};
    timer.io_write(0, ones);  // read-only
    CHECK(read32(timer) == value);
}

TEST_CASE("the FADT names the PM timer only when asked") {
    const auto with = berth::x86::build_acpi_tables(0xe0000, 1, {{}, 0x608, {}});
    const auto without = berth::x86::build_acpi_tables(0xe0000, 1);
    const auto* fadt = with.bytes.data() + (with.fadt_address - 0xe0000);
    const auto* plain = without.bytes.data() + (without.fadt_address - 0xe0000);
    std::uint32_t length = 0;
    std::memcpy(&length, fadt + 4, 4);
    CHECK(berth::x86::acpi_checksum(std::span(fadt, length)) == 0);

    std::uint32_t block = 0;
    std::memcpy(&block, fadt + 76, 4);
    CHECK(block == 0x608);
    CHECK(fadt[91] == 4);
    // X_PM_TMR_BLK: system I/O, 32 bits, dword access, at 0x608.
    CHECK(fadt[208] == 1);
    CHECK(fadt[209] == 32);
    CHECK(fadt[211] == 3);
    std::uint64_t address = 0;
    std::memcpy(&address, fadt + 212, 8);
    CHECK(address == 0x608);

    std::memcpy(&block, plain + 76, 4);
    CHECK(block == 0);
    CHECK(plain[91] == 0);
    CHECK(plain[208] == 0);
    // Everything else is the same table.
    CHECK(std::memcmp(fadt + 244, plain + 244, 32) == 0);
}
