#pragma once
// Test helpers for virtio over PCI: a driver that plays the guest against a
// PciTransport register by register, an MSI sink that counts what it was asked to
// deliver, and a wait for what the transport's worker does on its own thread.

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "devices/pci/msix.hpp"
#include "devices/virtio/pci_transport.hpp"
#include "tests/unit/byte_compare.hpp"
#include "tests/unit/virtio_ring_builder.hpp"

namespace berth::test {

struct CountingSink : devices::pci::MsiSink {
    std::mutex mutex;
    std::vector<std::uint16_t> triggers;
    void route(std::uint16_t, const devices::pci::MsiMessage&) override {}
    void trigger(std::uint16_t vector) override {
        const std::lock_guard lock(mutex);
        triggers.push_back(vector);
    }
    std::size_t count(std::uint16_t vector) {
        const std::lock_guard lock(mutex);
        return static_cast<std::size_t>(std::count(triggers.begin(), triggers.end(), vector));
    }
};

// Plays the guest driver against a transport, register by register.
struct Driver {
    devices::virtio::PciTransport& transport;

    void write(std::uint64_t offset, std::uint64_t value, unsigned width) {
        std::array<std::uint8_t, 8> bytes{};
        for (unsigned i = 0; i < width; ++i) {
            bytes[i] = static_cast<std::uint8_t>(value >> (8 * i));
        }
        transport.bar_write(0, offset, std::span(bytes).first(width));
    }
    std::uint64_t read(std::uint64_t offset, unsigned width) {
        std::array<std::uint8_t, 8> bytes{};
        transport.bar_read(0, offset, std::span(bytes).first(width));
        std::uint64_t value = 0;
        for (unsigned i = 0; i < width; ++i) {
            value |= static_cast<std::uint64_t>(bytes[i]) << (8 * i);
        }
        return value;
    }
    std::uint8_t status() { return static_cast<std::uint8_t>(read(0x14, 1)); }
    void set_status(std::uint8_t value) { write(0x14, value, 1); }
    std::uint64_t device_features() {
        write(0x00, 0, 4);
        std::uint64_t low = read(0x04, 4);
        write(0x00, 1, 4);
        return low | read(0x04, 4) << 32;
    }
    void set_driver_features(std::uint64_t features) {
        write(0x08, 0, 4);
        write(0x0c, features & 0xffffffff, 4);
        write(0x08, 1, 4);
        write(0x0c, features >> 32, 4);
    }
    // Where the MSI-X capability lies in configuration space.
    std::uint8_t msix_capability() {
        auto& config = transport.config();
        std::uint8_t at = config.read8(0x34);
        while (at != 0 && config.read8(at) != 0x11) {
            at = config.read8(at + 1u);
        }
        REQUIRE(as_number(at) != 0);
        return at;
    }
    // The MSI-X table's size (the capability's control, bits 10:0, plus one).
    unsigned msix_table_size() {
        return (transport.config().read16(msix_capability() + 2u) & 0x7ffu) + 1;
    }
    // Enables MSI-X with `vectors` vectors routed and unmasked.
    void enable_msix(unsigned vectors = 2) {
        const std::uint8_t at = msix_capability();
        const std::uint8_t control[2] = {0, 0x80};
        transport.config_write(at + 2u, control);
        for (unsigned v = 0; v < vectors; ++v) {
            write(devices::virtio::msix_table_offset + 16 * v, 0xfee00000, 4);
            write(devices::virtio::msix_table_offset + 16 * v + 8, 0x30 + v, 4);
            write(devices::virtio::msix_table_offset + 16 * v + 12, 0, 4);
        }
    }
    void setup_queue(std::uint16_t index, const devices::virtio::QueueLayout& layout,
                     std::uint16_t vector) {
        write(0x16, index, 2);
        write(0x18, layout.size, 2);
        write(0x1a, vector, 2);
        write(0x20, layout.descriptors, 8);
        write(0x28, layout.driver_area, 8);
        write(0x30, layout.device_area, 8);
        write(0x1c, 1, 2);
    }
    void setup_queue(std::uint16_t index, const RingBuilder& ring, std::uint16_t vector) {
        setup_queue(index, ring.layout(), vector);
    }
    // The usual bring-up, up to FEATURES_OK.
    void negotiate(std::uint64_t features) {
        set_status(0);
        set_status(devices::virtio::status_acknowledge);
        set_status(devices::virtio::status_acknowledge | devices::virtio::status_driver);
        set_driver_features(features);
        set_status(devices::virtio::status_acknowledge | devices::virtio::status_driver |
                   devices::virtio::status_features_ok);
    }
};

template <typename F>
bool eventually(F condition) {
    for (int i = 0; i < 400; ++i) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
}

}  // namespace berth::test
