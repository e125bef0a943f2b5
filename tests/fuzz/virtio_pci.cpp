// Fuzz harness: PCI bus 0 with a virtio-pci function (devices/pci/pci_bus,
// devices/virtio/pci_transport) as a hostile guest reaches them: any sequence of port
// accesses to configuration mechanism #1 (0xCF8-0xCFF) and of MMIO accesses in the BAR
// window, of width 1, 2, 4 or 8, in any device state, with queues enabled over any part
// of a guest RAM whose bytes the input also gives. Every access must be answered; no
// crash, no hang, and the transport stops cleanly.
//
// Input: the two bytes GuestRing reads, then operations of 12 bytes each: kind (low 2
// bits: port read, port write, MMIO read, MMIO write), width (the next 2 bits), a
// 16-bit offset (from 0xCF8, or into the window's first two BAR sizes) and an 8-byte
// value; after 64 operations at most, the rest is guest RAM.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

#include "devices/pci/msix.hpp"
#include "devices/pci/pci_bus.hpp"
#include "devices/virtio/pci_transport.hpp"
#include "devices/virtio/rng.hpp"
#include "tests/fuzz/guest_ring.hpp"

using namespace berth::devices::virtio;

namespace {

struct NoInterrupts : berth::devices::pci::MsiSink {
    void route(std::uint16_t, const berth::devices::pci::MsiMessage&) override {}
    void trigger(std::uint16_t) override {}
};

constexpr std::size_t operation_size = 12;
constexpr std::size_t max_operations = 64;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < berth::fuzz::GuestRing::header) {
        return 0;
    }
    const std::size_t operations =
        std::min((size - berth::fuzz::GuestRing::header) / operation_size, max_operations);
    const std::size_t ram_at = berth::fuzz::GuestRing::header + operations * operation_size;
    berth::fuzz::GuestRing guest;
    std::vector<std::uint8_t> ring_input(data, data + berth::fuzz::GuestRing::header);
    ring_input.insert(ring_input.end(), data + ram_at, data + size);
    guest.load(ring_input);

    NoInterrupts sink;
    berth::devices::pci::PciBus bus(0xe0000000, 0x100000);
    auto transport = std::make_shared<PciTransport>(guest.memory, std::make_shared<Rng>(),
                                                    bus.allocate_bar(bar_size), sink);
    bus.add(transport);
    for (std::size_t i = 0; i < operations; ++i) {
        const std::uint8_t* op = data + berth::fuzz::GuestRing::header + i * operation_size;
        const unsigned width = 1u << ((op[0] >> 2) & 3);
        std::uint16_t offset;
        std::memcpy(&offset, op + 2, sizeof offset);
        std::uint8_t value[8];
        std::memcpy(value, op + 4, sizeof value);
        const auto bytes = std::span(value, width);
        switch (op[0] & 3) {
            case 0:
                bus.io_read(offset % berth::devices::pci::config_port_count, bytes);
                break;
            case 1:
                bus.io_write(offset % berth::devices::pci::config_port_count, bytes);
                break;
            case 2:
                bus.mmio_read(offset % (2 * bar_size), bytes);
                break;
            case 3:
                bus.mmio_write(offset % (2 * bar_size), bytes);
                break;
        }
    }
    transport->stop();
    return 0;
}
