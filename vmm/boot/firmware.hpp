#pragma once
// Flat real-mode firmware: a raw binary loaded where a PC BIOS loads a boot sector,
// at 0000:7C00, and entered there in real mode. The lessons in guest-firmware/ are
// built for this address (nasm `org 0x7c00`).

#include <cstdint>
#include <filesystem>
#include <vector>

#include "vmm/memory/guest_memory.hpp"

namespace berth::boot {

inline constexpr std::uint64_t firmware_load_address = 0x7c00;
// Real mode reaches the first MiB; less RAM than that is not a PC.
inline constexpr std::uint64_t firmware_min_memory = 1ULL << 20;

struct Firmware {
    std::filesystem::path path;
    std::vector<std::uint8_t> image;
};

// Reads and validates the firmware for a guest of `memory_size` bytes: it must exist,
// be non-empty and fit in RAM at the load address. Errors are bad input.
Firmware read_firmware(const std::filesystem::path& path, std::uint64_t memory_size);

// Copies the image to its load address.
void load_firmware(const Firmware& firmware, memory::GuestMemory& memory);

}  // namespace berth::boot
