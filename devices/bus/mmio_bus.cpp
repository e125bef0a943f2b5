#include "devices/bus/mmio_bus.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth::devices {

void MmioBus::attach(std::uint64_t base, std::uint64_t length, std::shared_ptr<MmioDevice> device) {
    if (length == 0 || length - 1 > ~std::uint64_t{0} - base) {
        throw Error(fmt::format("cannot attach {} at {:#x}+{:#x}: outside the address space",
                                device->name(), base, length));
    }
    const std::uint64_t last = base + (length - 1);
    for (const auto& range : ranges_) {
        const std::uint64_t range_last = range.base + (range.length - 1);
        if (base <= range_last && range.base <= last) {
            throw Error(fmt::format("cannot attach {} at {:#x}+{:#x}: {} already uses {:#x}",
                                    device->name(), base, length, range.device->name(),
                                    range.base));
        }
    }
    ranges_.push_back(Range{base, length, std::move(device)});
    std::sort(ranges_.begin(), ranges_.end(),
              [](const Range& a, const Range& b) { return a.base < b.base; });
}

const MmioBus::Range* MmioBus::find(std::uint64_t address, std::uint64_t size) const {
    // A handful of ranges: a linear scan is the simplest thing that is fast enough.
    for (const auto& range : ranges_) {
        if (range.contains(address, size)) {
            return &range;
        }
    }
    return nullptr;
}

MmioDevice* MmioBus::device_at(std::uint64_t address) const {
    const Range* range = find(address, 1);
    return range != nullptr ? range->device.get() : nullptr;
}

std::string_view MmioBus::name_at(std::uint64_t address) const {
    const Range* range = find(address, 1);
    return range != nullptr ? range->device->name_at(address - range->base) : std::string_view{};
}

Claimed MmioBus::read(std::uint64_t address, std::span<std::uint8_t> data) const {
    const Range* range = find(address, data.size());
    if (range == nullptr) {
        std::fill(data.begin(), data.end(), std::uint8_t{0xff});
        return Claimed::no;
    }
    range->device->mmio_read(address - range->base, data);
    return Claimed::yes;
}

Claimed MmioBus::write(std::uint64_t address, std::span<const std::uint8_t> data) const {
    const Range* range = find(address, data.size());
    if (range == nullptr) {
        return Claimed::no;
    }
    range->device->mmio_write(address - range->base, data);
    return Claimed::yes;
}

}  // namespace berth::devices
