#pragma once
// The guest-physical addresses that are not RAM, as a table of device ranges. When a
// guest touches such an address the access cannot complete in hardware: KVM decodes
// the instruction and returns KVM_EXIT_MMIO with the address, the width and, for a
// write, the data. The vCPU loop hands that to this bus, which finds the device
// claiming the address and passes it the offset within its range.
//
// As on the port bus, an address no device claims reads as all ones and swallows
// writes (the caller counts it): a guest probing for absent hardware is not an error.

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "devices/bus/port_io_bus.hpp"  // Claimed

namespace berth::devices {

class MmioDevice {
public:
    virtual ~MmioDevice() = default;
    // Short name for traces and tables: "mmio echo".
    virtual std::string_view name() const = 0;
    // Who answers at `offset`, for the same tables: a device that stands for several
    // (a PCI bus for its functions' BARs) names the one behind the offset.
    virtual std::string_view name_at(std::uint64_t) const { return name(); }
    // `data` is the access (1, 2, 4 or 8 bytes, little endian as the guest sees it).
    virtual void mmio_read(std::uint64_t offset, std::span<std::uint8_t> data) = 0;
    virtual void mmio_write(std::uint64_t offset, std::span<const std::uint8_t> data) = 0;
};

class MmioBus {
public:
    // Claims [base, base + length) for `device`. Throws when the range is empty,
    // wraps past the end of the address space or overlaps another device's.
    void attach(std::uint64_t base, std::uint64_t length, std::shared_ptr<MmioDevice> device);

    // An access that starts inside a device's range but runs past its end is given to
    // no device (it is treated as unclaimed): devices never see offsets they did not
    // ask for.
    Claimed read(std::uint64_t address, std::span<std::uint8_t> data) const;
    Claimed write(std::uint64_t address, std::span<const std::uint8_t> data) const;

    // The device claiming `address`, or nullptr.
    MmioDevice* device_at(std::uint64_t address) const;
    // Who answers at `address` (MmioDevice::name_at); empty when nobody does.
    std::string_view name_at(std::uint64_t address) const;

private:
    struct Range {
        std::uint64_t base;
        std::uint64_t length;
        std::shared_ptr<MmioDevice> device;

        bool contains(std::uint64_t address, std::uint64_t size) const {
            return address >= base && address - base < length && size <= length - (address - base);
        }
    };
    const Range* find(std::uint64_t address, std::uint64_t size) const;

    std::vector<Range> ranges_;  // sorted by base, never overlapping
};

}  // namespace berth::devices
