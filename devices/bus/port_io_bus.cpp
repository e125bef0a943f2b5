#include "devices/bus/port_io_bus.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth::devices {

void PortIoBus::attach(std::uint16_t base, std::uint16_t length,
                       std::shared_ptr<PortIoDevice> device) {
    const std::uint32_t end = std::uint32_t{base} + length;
    if (length == 0 || end > 0x10000) {
        throw Error(fmt::format("cannot attach {} at ports {:#x}+{}: outside the port space",
                                device->name(), base, length));
    }
    for (const auto& range : ranges_) {
        if (base < range.base + range.length && range.base < end) {
            throw Error(fmt::format("cannot attach {} at ports {:#x}+{}: {} already uses {:#x}",
                                    device->name(), base, length, range.device->name(),
                                    range.base));
        }
    }
    ranges_.push_back(Range{base, length, std::move(device)});
    std::sort(ranges_.begin(), ranges_.end(),
              [](const Range& a, const Range& b) { return a.base < b.base; });
}

const PortIoBus::Range* PortIoBus::find(std::uint16_t port) const {
    // Ranges are few (a dozen at most); a linear scan beats anything clever.
    for (const auto& range : ranges_) {
        if (port >= range.base && port < range.base + range.length) {
            return &range;
        }
    }
    return nullptr;
}

PortIoDevice* PortIoBus::device_at(std::uint16_t port) const {
    const Range* range = find(port);
    return range != nullptr ? range->device.get() : nullptr;
}

Claimed PortIoBus::read(std::uint16_t port, std::span<std::uint8_t> data) const {
    const Range* range = find(port);
    if (range == nullptr) {
        std::fill(data.begin(), data.end(), std::uint8_t{0xff});
        return Claimed::no;
    }
    range->device->io_read(static_cast<std::uint16_t>(port - range->base), data);
    return Claimed::yes;
}

Claimed PortIoBus::write(std::uint16_t port, std::span<const std::uint8_t> data) const {
    const Range* range = find(port);
    if (range == nullptr) {
        return Claimed::no;
    }
    range->device->io_write(static_cast<std::uint16_t>(port - range->base), data);
    return Claimed::yes;
}

}  // namespace berth::devices
