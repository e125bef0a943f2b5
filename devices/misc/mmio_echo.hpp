#pragma once
// A teaching device on the MMIO bus (lesson 4): it exists only so a guest can watch
// a load or store to a non-RAM address turn into a VM exit that berth answers.
//
// Registers, 32 bits each, at offsets from the device's base:
//   0x0 ID      read-only, the bytes "BRTH" (0x48545242 read as a little-endian dword)
//   0x4 ECHO    write a value; reading returns it with ASCII a-z turned into A-Z, so the
//               guest can see the answer came from berth, not from memory
//   0x8 WRITES  read-only, how many writes (to any register) the device has received
// Accesses of any width 1-8 are served byte by byte; other offsets read as zero and
// ignore writes.

#include <array>
#include <cstdint>

#include "devices/bus/mmio_bus.hpp"

namespace berth::devices {

class MmioEcho : public MmioDevice {
public:
    static constexpr std::uint64_t size = 0x1000;
    static constexpr std::uint64_t id_register = 0x0;
    static constexpr std::uint64_t echo_register = 0x4;
    static constexpr std::uint64_t writes_register = 0x8;

    std::string_view name() const override { return "mmio echo"; }
    void mmio_read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void mmio_write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

    std::uint32_t writes() const { return writes_; }

private:
    std::uint8_t read_byte(std::uint64_t offset) const;

    std::array<std::uint8_t, 4> echo_{};
    std::uint32_t writes_ = 0;
};

}  // namespace berth::devices
