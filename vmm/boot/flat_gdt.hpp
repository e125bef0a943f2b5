#pragma once
// The global descriptor table berth hands a kernel it enters in 32-bit protected mode
// with paging off (Multiboot, PVH): flat 4 GiB code and data segments. It lies at the
// start of the loader's block of boot structures; the kernel loads its own soon after.

#include <cstdint>

namespace berth::boot {

// null, null, 32-bit code (0x10), data (0x18).
inline constexpr std::uint16_t flat_code_selector = 0x10;
inline constexpr std::uint16_t flat_data_selector = 0x18;
inline constexpr std::uint64_t flat_gdt[] = {
    0, 0,
    0x00cf9b000000ffff,  // code: present, ring 0, execute/read, 32-bit, 4 KiB granules
    0x00cf93000000ffff,  // data: present, ring 0, read/write, 32-bit, 4 KiB granules
};

}  // namespace berth::boot
