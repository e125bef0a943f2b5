#pragma once
// The zero page (struct boot_params): what a boot loader tells the kernel about the
// machine. berth fills in what the real-mode setup code would have gathered from a
// BIOS: the e820 memory map, the command line, the initrd, the ACPI root pointer.

#include <asm/bootparam.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vmm/boot/bzimage.hpp"
#include "vmm/boot/linux_layout.hpp"

namespace berth::boot {

// The e820 map for a guest of `memory_size` bytes: usable RAM except the EBDA and
// BIOS area below 1 MiB, and the hole below 4 GiB when RAM goes past it.
std::vector<boot_e820_entry> e820_map(std::uint64_t memory_size);

// Whether `size` bytes from `address` lie inside one usable (E820_RAM) entry of `map`.
bool in_usable_ram(const std::vector<boot_e820_entry>& map, std::uint64_t address,
                   std::uint64_t size);

struct InitrdPlacement {
    std::uint64_t address;
    std::uint64_t size;
};

// Puts an initrd of `size` bytes as high as the kernel allows (initrd_addr_max) and
// RAM below 4 GiB allows, page aligned, above the area the kernel runs in.
// Throws bad input naming `initrd_name` when it does not fit.
InitrdPlacement place_initrd(const BzImage& kernel, std::uint64_t memory_size, std::uint64_t size,
                             const std::string& initrd_name);

// Checks that the command line fits the kernel's limit; bad input otherwise. The first
// `own_bytes` of it are berth's own parameters: a kernel too small for those is blamed
// on its header, not on the user's parameters.
void check_cmdline(const BzImage& kernel, const std::string& cmdline, std::size_t own_bytes);

struct ZeroPageInputs {
    std::uint64_t memory_size;
    std::uint64_t cmdline_address;
    std::optional<InitrdPlacement> initrd;
    std::uint64_t acpi_rsdp_address;  // 0: none
};

boot_params build_zero_page(const BzImage& kernel, const ZeroPageInputs& inputs);

}  // namespace berth::boot
