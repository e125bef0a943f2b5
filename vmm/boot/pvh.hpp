#pragma once
// A kernel booted through its PVH entry point (Xen's docs/misc/pvh.pandoc; KVM guests
// use the same entry): an ELF executable, such as an uncompressed Linux `vmlinux` built
// with CONFIG_PVH=y (Debian's is), the format Firecracker and Cloud Hypervisor boot.
// The note XEN_ELFNOTE_PHYS32_ENTRY (owner "Xen", type 18) holds the physical address
// of a 32-bit entry point. berth loads the PT_LOAD segments at their physical addresses
// and enters there in 32-bit protected mode with paging off, flat segments, interrupts
// off, and EBX = the address of an hvm_start_info structure (Xen's public header
// arch-x86/hvm/start_info.h, version 1): the command line, the initrd as the first
// module, the memory map (berth's e820 map) and the ACPI RSDP.
//
// Where things go: the kernel's segments where its headers say (Linux: 16 MiB); the
// initrd as high in RAM below 4 GiB as it fits; berth's structures (the flat GDT,
// start_info, the module list, the memory map and the command line) in one block at
// pvh_info_base, in the first 640 KiB that Linux keeps for itself.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vmm/boot/elf_image.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace berth::boot {

inline constexpr std::uint32_t xen_elfnote_phys32_entry = 18;
// start_info's first field, which the kernel checks.
inline constexpr std::uint32_t hvm_start_info_magic = 0x336ec578;
// Version 1 adds the memory map; Linux needs it outside Xen.
inline constexpr std::uint32_t hvm_start_info_version = 1;

// The structures' sizes and offsets (start_info.h).
inline constexpr std::size_t hvm_start_info_size = 56;
inline constexpr std::size_t hvm_start_info_nr_modules = 12;
inline constexpr std::size_t hvm_start_info_modlist_paddr = 16;
inline constexpr std::size_t hvm_start_info_cmdline_paddr = 24;
inline constexpr std::size_t hvm_start_info_rsdp_paddr = 32;
inline constexpr std::size_t hvm_start_info_memmap_paddr = 40;
inline constexpr std::size_t hvm_start_info_memmap_entries = 48;
inline constexpr std::size_t hvm_modlist_entry_size = 32;  // paddr, size, cmdline_paddr, reserved
inline constexpr std::size_t hvm_memmap_entry_size = 24;   // addr, size, type, reserved

// berth's block of boot structures (as Multiboot's, below the EBDA).
inline constexpr std::uint64_t pvh_info_base = 0x10000;
// Linux's x86 COMMAND_LINE_SIZE, with its NUL: the kernel copies no more.
inline constexpr std::size_t pvh_cmdline_max = 2048;

struct PvhKernel {
    std::string name;    // the file, for messages
    std::string format;  // "ELF64" or "ELF32", for messages
    std::vector<LoadSegment> segments;
    std::uint32_t entry = 0;  // guest-physical, from the note
    std::vector<std::uint8_t> file;

    std::uint64_t end() const;  // one past the highest byte a segment occupies
};

// Whether `file` is an ELF file with a XEN_ELFNOTE_PHYS32_ENTRY note (false for
// anything malformed: parse_pvh_kernel says what is wrong).
bool has_pvh_note(std::span<const std::uint8_t> file);

// Reads the ELF headers and the entry note; checks that the entry lies in a loaded
// segment and that the segments do not overlap. Every problem is a bad-input Error
// naming `name`.
PvhKernel parse_pvh_kernel(std::vector<std::uint8_t> file, std::string name);

struct PvhPlan {
    std::optional<std::uint64_t> initrd_address;
    std::vector<std::uint8_t> info_block;  // to be copied to pvh_info_base
    std::uint64_t start_info_address = 0;  // EBX at entry
};

// Places the initrd (`initrd_size` bytes, none when `initrd_name` is empty) and builds the
// block for a guest of `memory_size` bytes, with the ACPI RSDP at `rsdp_address` (0:
// none). Bad input when a segment lies outside usable RAM or over the block, the
// initrd does not fit, or the command line is too long.
PvhPlan plan_pvh(const PvhKernel& kernel, std::uint64_t memory_size, const std::string& cmdline,
                 std::uint64_t initrd_size, const std::string& initrd_name,
                 std::uint64_t rsdp_address);

// Copies the segments (zeroing their bss), the initrd and the block.
void load_pvh(const PvhKernel& kernel, std::span<const std::uint8_t> initrd, const PvhPlan& plan,
              memory::GuestMemory& memory);

}  // namespace berth::boot
