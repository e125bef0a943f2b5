#pragma once
// The x86 port I/O space (64 Ki ports) as a table of device ranges. The vCPU loop
// hands every IN/OUT exit to the bus; the bus finds the device that claims the port
// and passes it the offset within its range. A port no device claims reads as 0xff
// (as on real hardware with nothing on the bus) and swallows writes: the caller
// counts it, a guest probing for absent hardware is not an error.

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace berth::devices {

class PortIoDevice {
public:
    virtual ~PortIoDevice() = default;
    // Short name for traces and tables: "serial 8250 (COM1)".
    virtual std::string_view name() const = 0;
    virtual void io_read(std::uint16_t offset, std::span<std::uint8_t> data) = 0;
    virtual void io_write(std::uint16_t offset, std::span<const std::uint8_t> data) = 0;
};

enum class Claimed { yes, no };

class PortIoBus {
public:
    // Claims [base, base + length) for `device`. Throws when the range overlaps
    // another device's or runs past port 0xffff.
    void attach(std::uint16_t base, std::uint16_t length, std::shared_ptr<PortIoDevice> device);

    Claimed read(std::uint16_t port, std::span<std::uint8_t> data) const;
    Claimed write(std::uint16_t port, std::span<const std::uint8_t> data) const;

    // The device claiming `port`, or nullptr.
    PortIoDevice* device_at(std::uint16_t port) const;

private:
    struct Range {
        std::uint32_t base;
        std::uint32_t length;
        std::shared_ptr<PortIoDevice> device;
    };
    const Range* find(std::uint16_t port) const;

    std::vector<Range> ranges_;  // sorted by base, never overlapping
};

}  // namespace berth::devices
