#include "devices/pci/pci_bus.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth::devices::pci {

HostBridge::HostBridge()
    // Intel's vendor ID with a made-up host bridge device ID; class 06/00 (host bridge).
    : config_(Identity{0x8086, 0x0d57, 0x060000}) {}

void HostBridge::bar_read(unsigned, std::uint64_t, std::span<std::uint8_t> data) {
    std::fill(data.begin(), data.end(), 0xff);
}

PciBus::PciBus(std::uint64_t window_base, std::uint64_t window_size)
    : window_base_(window_base), window_size_(window_size), next_bar_(window_base) {
    slots_[0] = std::make_shared<HostBridge>();
}

std::uint32_t PciBus::config_address() const {
    const std::lock_guard lock(mutex_);
    return config_address_;
}

void PciBus::set_config_address(std::uint32_t value) {
    const std::lock_guard lock(mutex_);
    config_address_ = value;
}

unsigned PciBus::add(std::shared_ptr<PciFunction> function) {
    for (unsigned slot = 0; slot < slot_count; ++slot) {
        if (!slots_[slot]) {
            slots_[slot] = std::move(function);
            return slot;
        }
    }
    throw bad_input(
        fmt::format("too many PCI devices: bus 0 holds at most {}; give fewer", slot_count - 1));
}

std::uint64_t PciBus::allocate_bar(std::uint64_t size) {
    const std::uint64_t address = (next_bar_ + size - 1) & ~(size - 1);
    if (address - window_base_ + size > window_size_) {
        throw Error(fmt::format("PCI window of {:#x} bytes is full", window_size_));
    }
    next_bar_ = address + size;
    return address;
}

PciFunction* PciBus::addressed_function() const {
    if ((config_address_ & 0x80000000U) == 0) {
        return nullptr;
    }
    const unsigned bus = (config_address_ >> 16) & 0xff;
    const unsigned device = (config_address_ >> 11) & 0x1f;
    const unsigned function = (config_address_ >> 8) & 0x7;
    if (bus != 0 || function != 0) {
        return nullptr;
    }
    return slots_[device].get();
}

void PciBus::io_read(std::uint16_t offset, std::span<std::uint8_t> data) {
    const std::lock_guard lock(mutex_);
    std::fill(data.begin(), data.end(), 0xff);
    if (offset == 0 && data.size() == 4) {
        for (unsigned i = 0; i < 4; ++i) {
            data[i] = static_cast<std::uint8_t>(config_address_ >> (8 * i));
        }
        return;
    }
    if (offset < 4) {
        return;  // byte/word accesses to 0xCF8-0xCFB are not the address register
    }
    if (PciFunction* function = addressed_function()) {
        const std::uint32_t reg = (config_address_ & 0xfc) + (offset - 4);
        if (reg + data.size() <= 256) {
            function->config_read(reg, data);
        }
    }
}

void PciBus::io_write(std::uint16_t offset, std::span<const std::uint8_t> data) {
    const std::lock_guard lock(mutex_);
    if (offset == 0 && data.size() == 4) {
        config_address_ = static_cast<std::uint32_t>(data[0] | data[1] << 8 | data[2] << 16) |
                          static_cast<std::uint32_t>(data[3]) << 24;
        config_address_ &= 0x80fffffcU;  // reserved bits 30:24 and 1:0 read as zero
        return;
    }
    if (offset < 4) {
        return;
    }
    if (PciFunction* function = addressed_function()) {
        const std::uint32_t reg = (config_address_ & 0xfc) + (offset - 4);
        if (reg + data.size() <= 256) {
            function->config_write(reg, data);
        }
    }
}

std::optional<PciBus::BarHit> PciBus::find_bar(std::uint64_t address, std::uint64_t length) const {
    const std::lock_guard lock(mutex_);
    for (const auto& function : slots_) {
        if (!function || !function->config().memory_enabled()) {
            continue;
        }
        for (unsigned bar = 0; bar < bar_count; ++bar) {
            const std::uint64_t size = function->config().bar_size(bar);
            const std::uint64_t base = function->config().bar_address(bar);
            if (size != 0 && address >= base && address - base < size &&
                length <= size - (address - base)) {
                return BarHit{function.get(), bar, address - base};
            }
        }
    }
    return std::nullopt;
}

std::string_view PciBus::name_at(std::uint64_t offset) const {
    const auto hit = find_bar(window_base_ + offset, 1);
    return hit ? hit->function->name() : name();
}

void PciBus::mmio_read(std::uint64_t offset, std::span<std::uint8_t> data) {
    if (const auto hit = find_bar(window_base_ + offset, data.size())) {
        hit->function->bar_read(hit->bar, hit->offset, data);
    } else {
        std::fill(data.begin(), data.end(), 0xff);
    }
}

void PciBus::mmio_write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    if (const auto hit = find_bar(window_base_ + offset, data.size())) {
        hit->function->bar_write(hit->bar, hit->offset, data);
    }
}

}  // namespace berth::devices::pci
