#pragma once
// PCI bus 0 of the Linux machine: up to 32 single-function devices, reached two ways.
//
// Configuration mechanism #1: the guest writes an address to port 0xCF8 (bit 31 enable,
// bus in bits 23:16, device 15:11, function 10:8, dword register 7:2) and then reads
// or writes the dword through ports 0xCFC-0xCFF. Anything but bus 0, function 0 of a
// present device reads as all ones (no device there).
//
// Memory BARs: the bus claims one window of guest-physical addresses on the MMIO bus
// and forwards each access to the function whose enabled BAR covers it. berth assigns
// BAR addresses itself (there is no firmware); the guest may move them.

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "devices/bus/mmio_bus.hpp"
#include "devices/bus/port_io_bus.hpp"
#include "devices/pci/pci_function.hpp"

namespace berth::devices::pci {

// Mechanism #1's ports from their base (0xCF8 on a PC): address at +0, data at +4.
inline constexpr std::uint16_t config_port_count = 8;

class PciBus : public PortIoDevice, public MmioDevice {
public:
    static constexpr unsigned slot_count = 32;

    // `window_base`/`window_size`: where BARs live (a naturally aligned hole in the
    // guest-physical map). Slot 0 holds a host bridge.
    PciBus(std::uint64_t window_base, std::uint64_t window_size);

    // Puts `function` in the next free slot; returns the slot.
    unsigned add(std::shared_ptr<PciFunction> function);
    // A naturally aligned range of `size` bytes from the window, for a BAR.
    std::uint64_t allocate_bar(std::uint64_t size);

    std::uint64_t window_base() const { return window_base_; }
    std::uint64_t window_size() const { return window_size_; }

    std::string_view name() const override { return "PCI bus"; }
    // The function whose enabled BAR holds `offset` (from window_base), else the bus.
    std::string_view name_at(std::uint64_t offset) const override;
    // Configuration mechanism #1 (offsets from 0xCF8).
    void io_read(std::uint16_t offset, std::span<std::uint8_t> data) override;
    void io_write(std::uint16_t offset, std::span<const std::uint8_t> data) override;
    // BAR accesses (offsets from window_base).
    void mmio_read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void mmio_write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

    // For snapshots: the configuration address latch (0xCF8), and the function in
    // `slot` (null when empty).
    std::uint32_t config_address() const;
    void set_config_address(std::uint32_t value);
    PciFunction* function(unsigned slot) const { return slots_.at(slot).get(); }

private:
    PciFunction* addressed_function() const;
    // The function and BAR whose range holds [address, +length), if decoding is on.
    struct BarHit {
        PciFunction* function;
        unsigned bar;
        std::uint64_t offset;
    };
    std::optional<BarHit> find_bar(std::uint64_t address, std::uint64_t length) const;

    std::uint64_t window_base_;
    std::uint64_t window_size_;
    std::uint64_t next_bar_;
    mutable std::mutex mutex_;  // config accesses come from any vCPU
    std::uint32_t config_address_ = 0;
    std::array<std::shared_ptr<PciFunction>, slot_count> slots_{};
};

}  // namespace berth::devices::pci
