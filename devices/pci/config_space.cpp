#include "devices/pci/config_space.hpp"

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth::devices::pci {

namespace {

constexpr std::uint32_t bar0_offset = 0x10;

}  // namespace

ConfigSpace::ConfigSpace(const Identity& identity) {
    set16(0x00, identity.vendor);
    set16(0x02, identity.device);
    bytes_[0x08] = identity.revision;
    bytes_[0x09] = static_cast<std::uint8_t>(identity.class_code);
    bytes_[0x0a] = static_cast<std::uint8_t>(identity.class_code >> 8);
    bytes_[0x0b] = static_cast<std::uint8_t>(identity.class_code >> 16);
    bytes_[0x0e] = 0x00;  // header type 0, single function
    set16(0x2c, identity.subsystem_vendor);
    set16(0x2e, identity.subsystem);
    // Command: I/O, memory, bus master and INTx disable; interrupt line: scratch for
    // the OS. There is no interrupt pin: interrupts are MSI-X only.
    set16(0x04, 0);
    writable_[0x04] = command_io | command_memory | command_bus_master;
    writable_[0x05] = command_intx_disable >> 8;
    writable_[0x3c] = 0xff;
}

std::uint16_t ConfigSpace::read16(std::uint32_t offset) const {
    return static_cast<std::uint16_t>(bytes_[offset] | bytes_[offset + 1] << 8);
}

std::uint32_t ConfigSpace::read32(std::uint32_t offset) const {
    return static_cast<std::uint32_t>(read16(offset)) |
           static_cast<std::uint32_t>(read16(offset + 2)) << 16;
}

void ConfigSpace::set16(std::uint32_t offset, std::uint16_t value) {
    bytes_[offset] = static_cast<std::uint8_t>(value);
    bytes_[offset + 1] = static_cast<std::uint8_t>(value >> 8);
}

void ConfigSpace::set32(std::uint32_t offset, std::uint32_t value) {
    set16(offset, static_cast<std::uint16_t>(value));
    set16(offset + 2, static_cast<std::uint16_t>(value >> 16));
}

void ConfigSpace::mask32(std::uint32_t offset, std::uint32_t mask) {
    for (unsigned i = 0; i < 4; ++i) {
        writable_[offset + i] = static_cast<std::uint8_t>(mask >> (8 * i));
    }
}

void ConfigSpace::add_bar(unsigned index, BarKind kind, std::uint64_t size, std::uint64_t address) {
    const unsigned slots = kind == BarKind::memory64 ? 2 : 1;
    if (index + slots > bar_count || size < 16 || (size & (size - 1)) != 0 ||
        (kind == BarKind::memory32 && size > (1ULL << 31)) || address % size != 0) {
        throw Error(
            fmt::format("PCI BAR {} of {:#x} bytes at {:#x} is not valid", index, size, address));
    }
    bars_[index] = {kind, size};
    const std::uint32_t offset = bar0_offset + 4 * index;
    const std::uint32_t type = kind == BarKind::memory64 ? 0x4 : 0x0;
    set32(offset, static_cast<std::uint32_t>(address) | type);
    mask32(offset, static_cast<std::uint32_t>(~(size - 1)) & ~0xfU);
    if (kind == BarKind::memory64) {
        set32(offset + 4, static_cast<std::uint32_t>(address >> 32));
        mask32(offset + 4, static_cast<std::uint32_t>(~(size - 1) >> 32));
    }
}

std::uint64_t ConfigSpace::bar_address(unsigned index) const {
    const std::uint32_t offset = bar0_offset + 4 * index;
    std::uint64_t address = read32(offset) & ~0xfU;
    if (bars_[index].kind == BarKind::memory64) {
        address |= static_cast<std::uint64_t>(read32(offset + 4)) << 32;
    }
    return address;
}

std::uint8_t ConfigSpace::add_capability(std::span<const std::uint8_t> body,
                                         std::span<const std::uint8_t> writable) {
    const std::size_t length = (body.size() + 3) & ~std::size_t{3};
    if (body.size() < 2 || next_capability_ + length > bytes_.size() ||
        (!writable.empty() && writable.size() != body.size())) {
        throw Error("PCI capability does not fit in configuration space");
    }
    const std::uint8_t offset = next_capability_;
    for (std::size_t i = 0; i < body.size(); ++i) {
        bytes_[offset + i] = body[i];
        writable_[offset + i] = writable.empty() ? 0 : writable[i];
    }
    bytes_[offset + 1] = 0;
    writable_[offset] = writable_[offset + 1] = 0;
    if (last_capability_ == 0) {
        bytes_[0x34] = offset;
        bytes_[0x06] |= status_capabilities;
    } else {
        bytes_[last_capability_ + 1] = offset;
    }
    last_capability_ = offset;
    next_capability_ = static_cast<std::uint8_t>(offset + length);
    return offset;
}

void ConfigSpace::read(std::uint32_t offset, std::span<std::uint8_t> data) const {
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = offset + i < bytes_.size() ? bytes_[offset + i] : 0xff;
    }
}

void ConfigSpace::poke(std::uint32_t offset, std::span<const std::uint8_t> data) {
    for (std::size_t i = 0; i < data.size() && offset + i < bytes_.size(); ++i) {
        bytes_[offset + i] = data[i];
    }
}

void ConfigSpace::write(std::uint32_t offset, std::span<const std::uint8_t> data) {
    for (std::size_t i = 0; i < data.size() && offset + i < bytes_.size(); ++i) {
        std::uint8_t& byte = bytes_[offset + i];
        const std::uint8_t mask = writable_[offset + i];
        byte = static_cast<std::uint8_t>((byte & ~mask) | (data[i] & mask));
    }
}

}  // namespace berth::devices::pci
