#include <catch2/catch.hpp>

#include <array>
#include <memory>
#include <vector>

#include "devices/bus/port_io_bus.hpp"
#include "tests/unit/byte_compare.hpp"

using berth::devices::Claimed;
using berth::devices::PortIoBus;
using berth::devices::PortIoDevice;
using berth::test::same_bytes;

namespace {

struct RecordingDevice : PortIoDevice {
    std::vector<std::uint16_t> offsets;
    std::string_view name() const override { return "recorder"; }
    void io_read(std::uint16_t offset, std::span<std::uint8_t> data) override {
        offsets.push_back(offset);
        std::fill(data.begin(), data.end(), std::uint8_t(offset));
    }
    void io_write(std::uint16_t offset, std::span<const std::uint8_t>) override {
        offsets.push_back(offset);
    }
};

}  // namespace

TEST_CASE("port bus routes accesses by range with offsets", "[bus]") {
    PortIoBus bus;
    auto device = std::make_shared<RecordingDevice>();
    bus.attach(0x3f8, 8, device);
    std::array<std::uint8_t, 1> data{};
    CHECK(bus.read(0x3fd, data) == Claimed::yes);
    CHECK(data[0] == 5);
    CHECK(bus.write(0x3f8, data) == Claimed::yes);
    CHECK(device->offsets == std::vector<std::uint16_t>{5, 0});
    CHECK(bus.device_at(0x3ff) == device.get());
    CHECK(bus.device_at(0x400) == nullptr);
}

TEST_CASE("port bus: unclaimed reads float high, writes vanish", "[bus]") {
    PortIoBus bus;
    std::array<std::uint8_t, 2> data{0, 0};
    CHECK(bus.read(0x80, data) == Claimed::no);
    CHECK(same_bytes(data, std::array<std::uint8_t, 2>{0xff, 0xff}));
    CHECK(bus.write(0x80, data) == Claimed::no);
    // inb, inl: all ones at every width, as on a PC (and in QEMU) with nothing there.
    std::array<std::uint8_t, 1> byte{0};
    CHECK(bus.read(0xf4, byte) == Claimed::no);
    CHECK(same_bytes(byte, std::array<std::uint8_t, 1>{0xff}));
    std::array<std::uint8_t, 4> dword{0, 0, 0, 0};
    CHECK(bus.read(0xffff, dword) == Claimed::no);
    CHECK(same_bytes(dword, std::array<std::uint8_t, 4>{0xff, 0xff, 0xff, 0xff}));
}

TEST_CASE("port bus refuses overlapping or out-of-space ranges", "[bus]") {
    PortIoBus bus;
    bus.attach(0x3f8, 8, std::make_shared<RecordingDevice>());
    CHECK_THROWS(bus.attach(0x3ff, 2, std::make_shared<RecordingDevice>()));
    CHECK_THROWS(bus.attach(0x3f0, 9, std::make_shared<RecordingDevice>()));
    CHECK_THROWS(bus.attach(0xfffe, 4, std::make_shared<RecordingDevice>()));
    CHECK_NOTHROW(bus.attach(0x3f0, 8, std::make_shared<RecordingDevice>()));
}
