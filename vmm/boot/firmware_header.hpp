#pragma once
// An optional header at the start of a firmware image that tells berth which parts of
// the machine the program needs beyond the basic one (real mode, RAM, COM1, the
// lesson devices). Without it, berth builds the basic machine: lesson 1 has no header.
//
// Layout (guest-firmware/include/header.inc writes it):
//   offset 0   EB xx        `jmp short` over the header, so the CPU never executes it
//   offset 2   "BERTHFW1"   magic and version
//   offset 10  u16 flags    bit 0: in-kernel irqchip (PIC, IOAPIC, LAPIC) and PIT
//                           other bits: reserved, must be 0

#include <cstdint>
#include <filesystem>
#include <span>

namespace berth::boot {

enum class InKernelIrqchip { no, yes };

struct FirmwareFeatures {
    InKernelIrqchip irqchip = InKernelIrqchip::no;
};

inline constexpr std::uint16_t firmware_flag_irqchip = 1u << 0;

// Reads the header of `image`, if it has one. Unknown flags are bad input (a firmware
// built for a newer berth), naming `path`.
FirmwareFeatures read_firmware_features(std::span<const std::uint8_t> image,
                                        const std::filesystem::path& path);

}  // namespace berth::boot
