#include <catch2/catch.hpp>

#include <array>
#include <memory>
#include <vector>

#include "devices/bus/mmio_bus.hpp"
#include "devices/pci/msix.hpp"
#include "devices/pci/pci_bus.hpp"
#include "tests/unit/byte_compare.hpp"

using namespace berth::devices::pci;
using berth::test::as_number;
using berth::test::same_bytes;

namespace {

constexpr std::uint64_t window = 0xe0000000;

std::uint32_t address(unsigned device, unsigned reg, unsigned bus = 0, unsigned function = 0) {
    return 0x80000000U | bus << 16 | device << 11 | function << 8 | reg;
}

struct Config {
    PciBus& bus;
    void select(std::uint32_t value) {
        std::array<std::uint8_t, 4> bytes{};
        for (unsigned i = 0; i < 4; ++i) {
            bytes[i] = static_cast<std::uint8_t>(value >> (8 * i));
        }
        bus.io_write(0, bytes);
    }
    std::uint32_t read32(std::uint32_t where) {
        select(where & ~3u);
        std::array<std::uint8_t, 4> bytes{};
        bus.io_read(4, bytes);
        return bytes[0] | bytes[1] << 8 | bytes[2] << 16 |
               static_cast<std::uint32_t>(bytes[3]) << 24;
    }
    std::uint16_t read16(std::uint32_t where) {
        select(where & ~3u);
        std::array<std::uint8_t, 2> bytes{};
        bus.io_read(static_cast<std::uint16_t>(4 + (where & 3)), bytes);
        return static_cast<std::uint16_t>(bytes[0] | bytes[1] << 8);
    }
    void write32(std::uint32_t where, std::uint32_t value) {
        select(where & ~3u);
        std::array<std::uint8_t, 4> bytes{};
        for (unsigned i = 0; i < 4; ++i) {
            bytes[i] = static_cast<std::uint8_t>(value >> (8 * i));
        }
        bus.io_write(4, bytes);
    }
    void write16(std::uint32_t where, std::uint16_t value) {
        select(where & ~3u);
        const std::array<std::uint8_t, 2> bytes{static_cast<std::uint8_t>(value),
                                                static_cast<std::uint8_t>(value >> 8)};
        bus.io_write(static_cast<std::uint16_t>(4 + (where & 3)), bytes);
    }
};

struct RecordingSink : MsiSink {
    std::vector<std::pair<std::uint16_t, MsiMessage>> routes;
    std::vector<std::uint16_t> triggers;
    void route(std::uint16_t vector, const MsiMessage& message) override {
        routes.emplace_back(vector, message);
    }
    void trigger(std::uint16_t vector) override { triggers.push_back(vector); }
};

// A function with a 64-bit BAR 0 of 16 KiB (MSI-X table at 0x2000, PBA at 0x3000) and
// a 32-bit BAR 2 of 4 KiB that records accesses.
struct TestFunction : PciFunction {
    TestFunction(std::uint64_t bar0, std::uint64_t bar2, MsiSink& sink)
        : config_(Identity{0x1234, 0x5678, 0x020000, 3}), msix(4, sink) {
        config_.add_bar(0, BarKind::memory64, 0x4000, bar0);
        config_.add_bar(2, BarKind::memory32, 0x1000, bar2);
        const std::uint8_t vendor_cap[4] = {capability_vendor, 0, 4, 0x55};
        config_.add_capability(vendor_cap);
        msix.add_capability(config_, 0, 0x2000, 0x3000);
    }
    std::string_view name() const override { return "test"; }
    void config_write(std::uint32_t offset, std::span<const std::uint8_t> data) override {
        config_.write(offset, data);
        msix.update_control(config_);
    }
    void bar_read(unsigned bar, std::uint64_t offset, std::span<std::uint8_t> data) override {
        if (bar == 0 && offset >= 0x3000) {
            msix.pba_read(offset - 0x3000, data);
        } else if (bar == 0 && offset >= 0x2000) {
            msix.table_read(offset - 0x2000, data);
        } else {
            accesses.push_back({bar, offset});
            std::fill(data.begin(), data.end(), 0x5a);
        }
    }
    void bar_write(unsigned bar, std::uint64_t offset,
                   std::span<const std::uint8_t> data) override {
        if (bar == 0 && offset >= 0x2000 && offset < 0x3000) {
            msix.table_write(offset - 0x2000, data);
        } else {
            accesses.push_back({bar, offset});
        }
    }
    ConfigSpace& config() override { return config_; }

    ConfigSpace config_;
    MsixTable msix;
    std::vector<std::pair<unsigned, std::uint64_t>> accesses;
};

}  // namespace

TEST_CASE("configuration mechanism #1 finds the host bridge and nothing else", "[pci]") {
    PciBus bus(window, 0x10000000);
    Config config{bus};
    config.select(address(0, 0));
    std::array<std::uint8_t, 4> raw{};
    bus.io_read(0, raw);
    CHECK(same_bytes(raw, std::array<std::uint8_t, 4>{0x00, 0x00, 0x00, 0x80}));
    CHECK(config.read32(address(0, 0)) == 0x0d578086);
    CHECK(config.read32(address(0, 8)) >> 8 == 0x060000);  // class: host bridge
    CHECK(config.read16(address(0, 0x0a)) == 0x0600);
    CHECK(config.read32(address(1, 0)) == 0xffffffff);               // empty slot
    CHECK(config.read32(address(0, 0, 1)) == 0xffffffff);            // bus 1
    CHECK(config.read32(address(0, 0, 0, 1)) == 0xffffffff);         // function 1
    CHECK(config.read32(address(0, 0) & 0x7fffffff) == 0xffffffff);  // enable bit clear
    // Byte writes to 0xCF8-0xCFB are not the address register.
    config.select(address(0, 0));
    const std::array<std::uint8_t, 1> one{0x01};
    bus.io_write(3, one);
    bus.io_read(0, raw);
    CHECK(as_number(raw[3]) == 0x80);
}

TEST_CASE("BAR sizing: all ones reads back the size mask; 64-bit BARs use two slots", "[pci]") {
    PciBus bus(window, 0x10000000);
    RecordingSink sink;
    const std::uint64_t bar0_address = bus.allocate_bar(0x4000);
    const std::uint64_t bar2_address = bus.allocate_bar(0x1000);
    auto function = std::make_shared<TestFunction>(bar0_address, bar2_address, sink);
    const unsigned slot = bus.add(function);
    CHECK(slot == 1);
    Config config{bus};
    CHECK(config.read32(address(slot, 0)) == 0x56781234);
    const std::uint32_t bar0 = config.read32(address(slot, 0x10));
    CHECK(bar0 == (window | 0x4));  // 64-bit memory BAR
    CHECK(config.read32(address(slot, 0x14)) == 0);
    CHECK(config.read32(address(slot, 0x18)) == window + 0x4000);

    config.write32(address(slot, 0x10), 0xffffffff);
    config.write32(address(slot, 0x14), 0xffffffff);
    CHECK(config.read32(address(slot, 0x10)) == 0xffffc004);
    CHECK(config.read32(address(slot, 0x14)) == 0xffffffff);
    config.write32(address(slot, 0x18), 0xffffffff);
    CHECK(config.read32(address(slot, 0x18)) == 0xfffff000);
    config.write32(address(slot, 0x1c), 0xffffffff);  // BAR 3 is not implemented
    CHECK(config.read32(address(slot, 0x1c)) == 0);

    // Move BAR 0 to 0x1_2345_0000 and BAR 2 back.
    config.write32(address(slot, 0x10), 0x23450000);
    config.write32(address(slot, 0x14), 0x1);
    config.write32(address(slot, 0x18), static_cast<std::uint32_t>(window + 0x4000));
    CHECK(function->config().bar_address(0) == 0x123450000ULL);
    CHECK(function->config().bar_address(2) == window + 0x4000);
    // Read-only registers stay put.
    config.write32(address(slot, 0), 0);
    CHECK(config.read32(address(slot, 0)) == 0x56781234);
}

TEST_CASE("the capability list chains from 0x34 and ends with 0", "[pci]") {
    PciBus bus(window, 0x10000000);
    RecordingSink sink;
    const unsigned slot = bus.add(std::make_shared<TestFunction>(window, window + 0x4000, sink));
    Config config{bus};
    CHECK((config.read16(address(slot, 0x06)) & status_capabilities) != 0);
    std::uint8_t at = static_cast<std::uint8_t>(config.read32(address(slot, 0x34)));
    std::vector<std::uint8_t> ids;
    while (at != 0 && ids.size() < 48) {
        const std::uint32_t header = config.read32(address(slot, at));
        ids.push_back(static_cast<std::uint8_t>(header));
        at = static_cast<std::uint8_t>(header >> 8);
    }
    CHECK(same_bytes(ids, std::vector<std::uint8_t>{capability_vendor, capability_msix}));
}

TEST_CASE("memory BAR accesses reach the function only while decoding is on", "[pci]") {
    PciBus bus(window, 0x10000000);
    RecordingSink sink;
    auto function = std::make_shared<TestFunction>(window, window + 0x4000, sink);
    const unsigned slot = bus.add(function);
    Config config{bus};
    std::array<std::uint8_t, 4> data{};
    bus.mmio_read(0x4010, data);
    CHECK(same_bytes(data, std::array<std::uint8_t, 4>{0xff, 0xff, 0xff, 0xff}));
    CHECK(function->accesses.empty());
    config.write16(address(slot, 0x04), command_memory);
    bus.mmio_read(0x4010, data);
    CHECK(data[0] == 0x5a);
    bus.mmio_write(0x0008, data);
    REQUIRE(function->accesses.size() == 2);
    CHECK(function->accesses[0] == std::pair<unsigned, std::uint64_t>{2, 0x10});
    CHECK(function->accesses[1] == std::pair<unsigned, std::uint64_t>{0, 0x8});
    // An access straddling the end of a BAR goes nowhere.
    bus.mmio_read(0x4ffe, data);
    CHECK(function->accesses.size() == 2);
}

TEST_CASE("on the MMIO bus, the PCI window names the function behind each BAR", "[pci]") {
    auto bus = std::make_shared<PciBus>(window, 0x10000000);
    berth::devices::MmioBus mmio;
    mmio.attach(window, 0x10000000, bus);
    RecordingSink sink;
    const unsigned slot = bus->add(std::make_shared<TestFunction>(window, window + 0x4000, sink));
    Config config{*bus};
    // Decoding off: the window has no function in it, only the bus.
    CHECK(mmio.name_at(window + 0x10) == "PCI bus");
    config.write16(address(slot, 0x04), command_memory);
    CHECK(mmio.name_at(window + 0x10) == "test");       // BAR 0
    CHECK(mmio.name_at(window + 0x4fff) == "test");     // BAR 2's last byte
    CHECK(mmio.name_at(window + 0x5000) == "PCI bus");  // between BARs
    CHECK(mmio.name_at(window - 1).empty());            // outside the window: nobody
    std::array<std::uint8_t, 4> data{};
    CHECK(mmio.read(window + 0x4010, data) == berth::devices::Claimed::yes);
    CHECK(data[0] == 0x5a);
}

TEST_CASE("MSI-X: table, masks, pending bits and delivery", "[pci][msix]") {
    PciBus bus(window, 0x10000000);
    RecordingSink sink;
    auto function = std::make_shared<TestFunction>(window, window + 0x4000, sink);
    const unsigned slot = bus.add(function);
    Config config{bus};
    config.write16(address(slot, 0x04), command_memory);
    // Find the MSI-X capability: vendor cap at 0x40 (4 bytes), MSI-X at 0x44.
    const std::uint32_t cap = 0x44;
    CHECK((config.read32(address(slot, cap)) & 0xff) == capability_msix);
    CHECK((config.read32(address(slot, cap)) >> 16 & 0x7ff) == 3);  // 4 vectors
    CHECK(config.read32(address(slot, cap + 4)) == 0x2000);         // table in BAR 0
    CHECK(config.read32(address(slot, cap + 8)) == 0x3000);         // PBA in BAR 0

    auto table_write32 = [&](std::uint64_t offset, std::uint32_t value) {
        std::array<std::uint8_t, 4> bytes{};
        for (unsigned i = 0; i < 4; ++i) {
            bytes[i] = static_cast<std::uint8_t>(value >> (8 * i));
        }
        bus.mmio_write(0x2000 + offset, bytes);
    };
    auto pba = [&] {
        std::array<std::uint8_t, 8> bytes{};
        bus.mmio_read(0x3000, bytes);
        return bytes[0];
    };
    std::array<std::uint8_t, 4> control{};
    bus.mmio_read(0x2000 + 16 * 2 + 12, control);
    CHECK(control[0] == 1);  // vectors start masked

    function->msix.signal(2);
    CHECK(sink.triggers.empty());  // MSI-X is off: nothing, not even pending
    CHECK(pba() == 0);

    config.write16(address(slot, cap + 2), msix_control_enable);
    table_write32(16 * 2 + 0, 0xfee00000);
    table_write32(16 * 2 + 4, 0);
    table_write32(16 * 2 + 8, 0x4041);
    CHECK(sink.routes.empty());  // still masked: not routed half-written
    function->msix.signal(2);
    CHECK(sink.triggers.empty());
    CHECK(pba() == 0x04);
    table_write32(16 * 2 + 12, 0);  // unmask: route, then deliver the pending message
    REQUIRE(sink.routes.size() == 1);
    CHECK(sink.routes[0].first == 2);
    CHECK(sink.routes[0].second == MsiMessage{0xfee00000, 0x4041});
    CHECK(sink.triggers == std::vector<std::uint16_t>{2});
    CHECK(pba() == 0);

    function->msix.signal(2);
    CHECK(sink.triggers.size() == 2);
    config.write16(address(slot, cap + 2), msix_control_enable | msix_control_function_mask);
    function->msix.signal(2);
    CHECK(sink.triggers.size() == 2);
    CHECK(pba() == 0x04);
    config.write16(address(slot, cap + 2), msix_control_enable);
    CHECK(sink.triggers.size() == 3);
    function->msix.signal(9);  // out of range: ignored
    CHECK(sink.triggers.size() == 3);
    // The table size field is read-only.
    config.write16(address(slot, cap + 2), 0x07ff | msix_control_enable);
    CHECK((config.read32(address(slot, cap)) >> 16 & 0x7ff) == 3);
}
