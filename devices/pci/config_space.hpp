#pragma once
// The 256-byte configuration space of one PCI function (a type-0 header), with a
// write mask per byte so the guest can change only what hardware would let it:
// the command register, BAR address bits, the interrupt line and writable capability
// fields. BAR sizing falls out of the mask: writing all ones to a BAR leaves the
// read-only low bits clear, so the guest reads back ~(size - 1) plus the type bits.

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace berth::devices::pci {

inline constexpr std::uint16_t command_io = 1;
inline constexpr std::uint16_t command_memory = 2;
inline constexpr std::uint16_t command_bus_master = 4;
inline constexpr std::uint16_t command_intx_disable = 0x400;
inline constexpr std::uint8_t status_capabilities = 0x10;
inline constexpr std::uint8_t capability_vendor = 0x09;
inline constexpr std::uint8_t capability_msix = 0x11;
inline constexpr unsigned bar_count = 6;

struct Identity {
    std::uint16_t vendor;
    std::uint16_t device;
    std::uint32_t class_code;  // base class << 16 | subclass << 8 | programming interface
    std::uint8_t revision = 0;
    std::uint16_t subsystem_vendor = 0;
    std::uint16_t subsystem = 0;
};

enum class BarKind { memory32, memory64 };

class ConfigSpace {
public:
    explicit ConfigSpace(const Identity& identity);

    // Declares memory BAR `index` of `size` bytes (a power of two, at least 16; a
    // 64-bit BAR takes `index` and `index + 1`) at `address`.
    void add_bar(unsigned index, BarKind kind, std::uint64_t size, std::uint64_t address);
    // Appends a capability (its first two bytes, ID and next pointer, are filled in);
    // `writable` is the write mask for its bytes (same length, or empty: read-only).
    // Returns the capability's offset.
    std::uint8_t add_capability(std::span<const std::uint8_t> body,
                                std::span<const std::uint8_t> writable = {});

    void read(std::uint32_t offset, std::span<std::uint8_t> data) const;
    // The device changing its own registers (no write mask).
    void poke(std::uint32_t offset, std::span<const std::uint8_t> data);
    void write(std::uint32_t offset, std::span<const std::uint8_t> data);

    std::uint16_t command() const { return read16(0x04); }
    // The guest-programmed address of BAR `index`, and whether memory decoding is on.
    std::uint64_t bar_address(unsigned index) const;
    std::uint64_t bar_size(unsigned index) const { return bars_[index].size; }
    bool memory_enabled() const { return (command() & command_memory) != 0; }

    // All 256 bytes as the guest left them, for snapshots; restore_bytes() puts them
    // back (the write masks and BAR sizes are the device's, made by its constructor).
    const std::array<std::uint8_t, 256>& bytes() const { return bytes_; }
    void restore_bytes(const std::array<std::uint8_t, 256>& bytes) { bytes_ = bytes; }

    std::uint8_t read8(std::uint32_t offset) const { return bytes_[offset]; }
    std::uint16_t read16(std::uint32_t offset) const;
    std::uint32_t read32(std::uint32_t offset) const;

private:
    void set16(std::uint32_t offset, std::uint16_t value);
    void set32(std::uint32_t offset, std::uint32_t value);
    void mask32(std::uint32_t offset, std::uint32_t mask);

    struct Bar {
        BarKind kind = BarKind::memory32;
        std::uint64_t size = 0;  // 0: not implemented (or the upper half of a 64-bit BAR)
    };
    std::array<std::uint8_t, 256> bytes_{};
    std::array<std::uint8_t, 256> writable_{};
    std::array<Bar, bar_count> bars_{};
    std::uint8_t next_capability_ = 0x40;
    std::uint8_t last_capability_ = 0;  // offset of the last capability's header
};

}  // namespace berth::devices::pci
