#pragma once
// A Multiboot kernel (the Multiboot Specification 0.6.96): an ELF32 or ELF64 file, or a
// flat image described by the header's address fields (the "a.out kludge"), with a
// Multiboot header in its first 8192 bytes. It is entered in 32-bit protected mode with
// paging off, EAX = 0x2BADB002 and EBX = the address of the information structure
// berth builds: memory sizes, the memory map, the command line, the boot loader's name
// and the modules. This is what QEMU's `-kernel kernel.elf` boots, and what OSDev's
// "Bare Bones" and most teaching kernels are.
//
// Where things go: the kernel's segments where its headers say (p_paddr); the modules
// after the kernel's end, each on its own page; berth's structures (a flat GDT, the
// information structure, the memory map, the module list and the strings) in one
// block at multiboot_info_base, which the kernel may reuse once it has read them.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vmm/boot/elf_image.hpp"
#include "vmm/boot/flat_gdt.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace berth::boot {

// In the kernel's file: the header's magic; in EAX at entry: the boot loader's.
inline constexpr std::uint32_t multiboot_header_magic = 0x1badb002;
inline constexpr std::uint32_t multiboot_bootloader_magic = 0x2badb002;
// The header lies in the first 8192 bytes of the file, 32-bit aligned.
inline constexpr std::size_t multiboot_search_bytes = 8192;

// The header's flags: bits 0-15 are requirements (a loader that does not know one must
// refuse the kernel), bits 16-31 optional features.
inline constexpr std::uint32_t multiboot_page_align_modules = 1U << 0;
inline constexpr std::uint32_t multiboot_memory_info = 1U << 1;
inline constexpr std::uint32_t multiboot_video_mode = 1U << 2;
inline constexpr std::uint32_t multiboot_address_fields = 1U << 16;

// berth's block of boot structures in low memory: above the real-mode IVT, BIOS data
// and the first pages a kernel likes for its AP trampoline, below the EBDA.
inline constexpr std::uint64_t multiboot_info_base = 0x10000;
inline constexpr std::uint64_t multiboot_info_limit = 0x9fc00;
// The block starts with the flat GDT (flat_gdt.hpp).
using MultibootSegment = LoadSegment;

struct MultibootKernel {
    std::string name;  // the file, for messages
    std::uint32_t flags = 0;
    std::string format;  // "ELF32", "ELF64" or "address fields", for messages
    std::vector<MultibootSegment> segments;
    std::uint32_t entry = 0;  // guest-physical
    std::vector<std::uint8_t> file;

    std::uint64_t start() const;  // the lowest address a segment occupies
    std::uint64_t end() const;    // one past the highest
};

// A module as the guest sees it: the bytes and the string (its path and arguments).
struct MultibootModule {
    std::string name;  // the file, for messages
    std::string string;
    std::vector<std::uint8_t> bytes;
};

// Whether the first 8192 bytes of `file` hold a 32-bit aligned Multiboot magic (with or
// without a good checksum: parse_multiboot says what is wrong with it).
bool has_multiboot_header(std::span<const std::uint8_t> file);

// Finds and checks the header, then the segments it or the ELF headers describe. Every
// problem is a bad-input Error naming `name`.
MultibootKernel parse_multiboot(std::vector<std::uint8_t> file, std::string name);

// Where everything goes for one boot.
struct MultibootPlan {
    std::vector<std::uint64_t> module_addresses;
    std::vector<std::uint8_t> info_block;  // to be copied to multiboot_info_base
    std::uint64_t info_address = 0;        // EBX at entry
};

// Places the modules and builds the information block for a guest of `memory_size`
// bytes; bad input when the kernel or the modules do not fit the guest's RAM, or the
// kernel would overwrite berth's block or the BIOS area.
MultibootPlan plan_multiboot(const MultibootKernel& kernel, std::uint64_t memory_size,
                             const std::string& cmdline, std::span<const MultibootModule> modules);

// Copies the kernel's segments (zeroing their bss), the modules and the block.
void load_multiboot(const MultibootKernel& kernel, std::span<const MultibootModule> modules,
                    const MultibootPlan& plan, memory::GuestMemory& memory);

}  // namespace berth::boot
