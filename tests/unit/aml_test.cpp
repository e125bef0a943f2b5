// The AML encoder that writes berth's DSDT, and the PCI host bridge it describes.
#include <algorithm>
#include <catch2/catch.hpp>

#include "tests/unit/byte_compare.hpp"
#include "vmm/x86/acpi.hpp"
#include "vmm/x86/aml.hpp"

using namespace berth;
using Bytes = x86::aml::Bytes;
using test::as_number;
using test::same_bytes;

namespace {

bool contains(const Bytes& haystack, const Bytes& needle) {
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
           haystack.end();
}

// Decodes a PkgLength back into (total length, bytes it occupies).
std::pair<std::size_t, std::size_t> decode_pkg_length(const Bytes& encoded) {
    const std::size_t extra = encoded.at(0) >> 6;
    if (extra == 0) {
        return {encoded[0] & 0x3f, 1};
    }
    std::size_t total = encoded[0] & 0x0f;
    for (std::size_t i = 0; i < extra; ++i) {
        total |= std::size_t{encoded.at(1 + i)} << (4 + 8 * i);
    }
    return {total, 1 + extra};
}

}  // namespace

TEST_CASE("PkgLength counts itself and grows past 63 bytes", "[x86][aml]") {
    CHECK(same_bytes(x86::aml::pkg_length(0), Bytes{0x01}));
    CHECK(same_bytes(x86::aml::pkg_length(62), Bytes{0x3f}));
    // 63 bytes of body + 2 bytes of length = 65 = 0x41: low nibble 1, then 0x04.
    CHECK(same_bytes(x86::aml::pkg_length(63), Bytes{0x41, 0x04}));
    for (std::size_t body :
         {std::size_t{1}, std::size_t{62}, std::size_t{63}, std::size_t{200}, std::size_t{4093},
          std::size_t{4094}, std::size_t{70000}, std::size_t{1} << 20}) {
        const auto [total, width] = decode_pkg_length(x86::aml::pkg_length(body));
        CHECK(total == body + width);
    }
}

TEST_CASE("AML integers take the smallest encoding", "[x86][aml]") {
    CHECK(same_bytes(x86::aml::integer(0), Bytes{0x00}));
    CHECK(same_bytes(x86::aml::integer(1), Bytes{0x01}));
    CHECK(same_bytes(x86::aml::integer(5), Bytes{0x0a, 5}));
    CHECK(same_bytes(x86::aml::integer(0x1234), Bytes{0x0b, 0x34, 0x12}));
    CHECK(same_bytes(x86::aml::integer(0xe0000000), Bytes{0x0c, 0x00, 0x00, 0x00, 0xe0}));
    CHECK(same_bytes(x86::aml::integer(0x100000000), Bytes{0x0e, 0, 0, 0, 0, 1, 0, 0, 0}));
}

TEST_CASE("EisaId compresses the vendor letters", "[x86][aml]") {
    CHECK(same_bytes(x86::aml::eisa_id("PNP0501"), Bytes{0x0c, 0x41, 0xd0, 0x05, 0x01}));
    CHECK(same_bytes(x86::aml::eisa_id("PNP0A03"), Bytes{0x0c, 0x41, 0xd0, 0x0a, 0x03}));
}

TEST_CASE("Device and Scope wrap their body with a name and its length", "[x86][aml]") {
    const Bytes body(100, 0xaa);
    const Bytes device = x86::aml::device("PCI0", body);
    REQUIRE(device.size() > 2);
    CHECK(device[0] == 0x5b);
    CHECK(as_number(device[1]) == 0x82);
    const auto [total, width] = decode_pkg_length(Bytes(device.begin() + 2, device.end()));
    CHECK(total == width + 4 + body.size());
    CHECK(device.size() == 2 + total);
    CHECK(same_bytes(Bytes(device.begin() + 2 + width, device.begin() + 6 + width),
                     Bytes{'P', 'C', 'I', '0'}));
}

TEST_CASE("address space descriptors describe the PCI windows", "[x86][aml]") {
    const Bytes memory = x86::aml::memory_range(0xe0000000, 0xefffffff);
    REQUIRE(memory.size() == 26);
    CHECK(as_number(memory[0]) == 0x87);
    CHECK(memory[3] == 0);                                             // memory space
    CHECK(same_bytes(Bytes(memory.begin() + 10, memory.begin() + 14),  // min
                     Bytes{0, 0, 0, 0xe0}));
    CHECK(same_bytes(Bytes(memory.begin() + 14, memory.begin() + 18),  // max
                     Bytes{0xff, 0xff, 0xff, 0xef}));
    CHECK(same_bytes(Bytes(memory.begin() + 22, memory.begin() + 26),  // length
                     Bytes{0, 0, 0, 0x10}));
    const Bytes bus = x86::aml::bus_number_range(0, 0);
    REQUIRE(bus.size() == 16);
    CHECK(bus[3] == 2);
    CHECK(bus[14] == 1);  // one bus
    const Bytes io = x86::aml::io_range(0x0d00, 0xffff);
    REQUIRE(io.size() == 16);
    CHECK(io[3] == 1);
    CHECK(io[14] == 0x00);
    CHECK(as_number(io[15]) == 0xf3);  // 0xf300 ports
}

TEST_CASE("the DSDT names a PCI host bridge only when the machine has PCI", "[x86][acpi]") {
    constexpr std::uint64_t base = 0xe0000;
    const auto without = x86::build_acpi_tables(base, 1);
    const auto with =
        x86::build_acpi_tables(base, 1, {x86::PciHostBridge{0xe0000000, 0x10000000}, {}, {}});
    const Bytes hid = {'_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03};
    CHECK_FALSE(contains(without.bytes, hid));
    CHECK(contains(with.bytes, hid));
    CHECK(contains(with.bytes, {'P', 'C', 'I', '0'}));
    CHECK(contains(with.bytes, x86::aml::memory_range(0xe0000000, 0xefffffff)));
    CHECK(contains(with.bytes, x86::aml::io_port(0xcf8, 8)));
    // COM1 is still there, in the same \_SB_ scope.
    CHECK(contains(with.bytes, {'C', 'O', 'M', '1'}));
}

TEST_CASE("AML strings, name paths, methods and Notify encode as the spec says", "[x86][aml]") {
    CHECK(same_bytes(x86::aml::string("AB"), Bytes{0x0d, 'A', 'B', 0x00}));
    CHECK(same_bytes(x86::aml::name_path("PWRB"), Bytes{'P', 'W', 'R', 'B'}));
    // RootChar, DualNamePrefix, two segments.
    CHECK(same_bytes(x86::aml::name_path("\\_SB_.PWRB"),
                     Bytes{0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'W', 'R', 'B'}));
    // Three or more segments: MultiNamePrefix and a count.
    CHECK(same_bytes(
        x86::aml::name_path("\\_SB_.PCI0.GED0"),
        Bytes{0x5c, 0x2f, 3, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'G', 'E', 'D', '0'}));
    // Notify (PWRB, 0x80): NotifyOp, the target, BytePrefix 0x80.
    const Bytes notify = x86::aml::notify(x86::aml::name_path("PWRB"), 0x80);
    CHECK(same_bytes(notify, Bytes{0x86, 'P', 'W', 'R', 'B', 0x0a, 0x80}));
    // Method (_EVT, 1) { body }: MethodOp, PkgLength (name + flags + body + itself),
    // the name, flags (argument count 1, NotSerialized).
    const Bytes method = x86::aml::method("_EVT", 1, notify);
    REQUIRE(method.size() == 2 + 4 + 1 + notify.size());
    CHECK(method[0] == 0x14);
    CHECK(method[1] == 4 + 1 + notify.size() + 1);
    CHECK(method[6] == 0x01);
    CHECK(std::equal(notify.begin(), notify.end(), method.begin() + 7));
    CHECK_THROWS(x86::aml::method("_EVT", 8, {}));
}

TEST_CASE("an extended interrupt descriptor names any GSI, edge and active high", "[x86][aml]") {
    const Bytes irq = x86::aml::edge_interrupt(16);
    // Large item 0x89, length 6, flags (consumer | edge), one interrupt, GSI 16.
    CHECK(same_bytes(irq, Bytes{0x89, 0x06, 0x00, 0x03, 0x01, 0x10, 0x00, 0x00, 0x00}));
}

TEST_CASE("the DSDT has a power button behind a GED only when asked for", "[x86][acpi]") {
    constexpr std::uint64_t base = 0xe0000;
    const auto without = x86::build_acpi_tables(base, 1);
    const auto with = x86::build_acpi_tables(base, 1, {std::nullopt, std::nullopt, 16});
    // Name (_HID, EisaId ("PNP0C0C")) and Name (_HID, "ACPI0013").
    const Bytes button_hid = {'_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0c, 0x0c};
    Bytes ged_hid = {'_', 'H', 'I', 'D'};
    x86::aml::append(ged_hid, x86::aml::string("ACPI0013"));
    CHECK_FALSE(contains(without.bytes, button_hid));
    CHECK_FALSE(contains(without.bytes, ged_hid));
    CHECK(contains(with.bytes, button_hid));
    CHECK(contains(with.bytes, ged_hid));
    CHECK(contains(with.bytes, x86::aml::edge_interrupt(16)));
    CHECK(contains(with.bytes, x86::aml::notify(x86::aml::name_path("\\_SB_.PWRB"), 0x80)));
    // The table still sums to zero with the longer DSDT.
    const std::uint64_t dsdt = with.dsdt_address - base;
    const std::uint32_t length = with.bytes[dsdt + 4] | (with.bytes[dsdt + 5] << 8);
    CHECK(x86::acpi_checksum(std::span(with.bytes).subspan(dsdt, length)) == 0);
}
