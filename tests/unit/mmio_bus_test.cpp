#include <catch2/catch.hpp>

#include <array>
#include <memory>
#include <vector>

#include "devices/bus/mmio_bus.hpp"
#include "tests/unit/byte_compare.hpp"
#include "vmm/common/error.hpp"

using berth::devices::Claimed;
using berth::devices::MmioBus;
using berth::devices::MmioDevice;
using berth::test::same_bytes;

namespace {

struct RecordingDevice : MmioDevice {
    std::vector<std::uint64_t> offsets;
    std::string_view name() const override { return "recorder"; }
    void mmio_read(std::uint64_t offset, std::span<std::uint8_t> data) override {
        offsets.push_back(offset);
        std::fill(data.begin(), data.end(), std::uint8_t(offset));
    }
    void mmio_write(std::uint64_t offset, std::span<const std::uint8_t>) override {
        offsets.push_back(offset);
    }
};

}  // namespace

TEST_CASE("mmio bus routes accesses by range with offsets", "[mmio]") {
    MmioBus bus;
    auto low = std::make_shared<RecordingDevice>();
    auto high = std::make_shared<RecordingDevice>();
    bus.attach(0xd0000000, 0x1000, low);
    bus.attach(0xfee00000, 0x1000, high);
    std::array<std::uint8_t, 4> data{};
    CHECK(bus.read(0xd0000008, data) == Claimed::yes);
    CHECK(same_bytes(data, std::array<std::uint8_t, 4>{8, 8, 8, 8}));
    CHECK(bus.write(0xfee000f0, data) == Claimed::yes);
    CHECK(low->offsets == std::vector<std::uint64_t>{8});
    CHECK(high->offsets == std::vector<std::uint64_t>{0xf0});
    CHECK(bus.device_at(0xd0000fff) == low.get());
    CHECK(bus.device_at(0xd0001000) == nullptr);
    CHECK(bus.device_at(0xcfffffff) == nullptr);
}

TEST_CASE("mmio bus: unclaimed reads float high, writes vanish", "[mmio]") {
    MmioBus bus;
    std::array<std::uint8_t, 8> data{};
    CHECK(bus.read(0x1234, data) == Claimed::no);
    CHECK(same_bytes(data,
                     std::array<std::uint8_t, 8>{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
    CHECK(bus.write(0x1234, data) == Claimed::no);
}

TEST_CASE("mmio bus: an access running past a device's end reaches no device", "[mmio]") {
    MmioBus bus;
    auto device = std::make_shared<RecordingDevice>();
    bus.attach(0x1000, 0x10, device);
    std::array<std::uint8_t, 4> data{};
    CHECK(bus.read(0x100e, data) == Claimed::no);
    CHECK(bus.write(0x100c, data) == Claimed::yes);
    CHECK(device->offsets == std::vector<std::uint64_t>{0xc});
}

TEST_CASE("mmio bus refuses overlapping, empty or wrapping ranges", "[mmio]") {
    MmioBus bus;
    bus.attach(0x1000, 0x1000, std::make_shared<RecordingDevice>());
    CHECK_THROWS_AS(bus.attach(0x1fff, 1, std::make_shared<RecordingDevice>()), berth::Error);
    CHECK_THROWS_AS(bus.attach(0x0, 0x1001, std::make_shared<RecordingDevice>()), berth::Error);
    CHECK_THROWS_AS(bus.attach(0x5000, 0, std::make_shared<RecordingDevice>()), berth::Error);
    CHECK_THROWS_AS(bus.attach(~std::uint64_t{0} - 4, 16, std::make_shared<RecordingDevice>()),
                    berth::Error);
    // Adjacent ranges and the very top of the address space are fine.
    bus.attach(0x2000, 0x1000, std::make_shared<RecordingDevice>());
    bus.attach(~std::uint64_t{0} - 0xfff, 0x1000, std::make_shared<RecordingDevice>());
    CHECK(bus.device_at(~std::uint64_t{0}) != nullptr);
}
