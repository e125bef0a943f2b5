#pragma once
// The parts of an x86 ELF executable a boot loader needs (the System V ABI's ELF
// chapter): its loadable segments (PT_LOAD, placed at their physical addresses) and
// its notes (PT_NOTE). Multiboot ELF kernels and PVH kernels (a Linux vmlinux) are
// both read through here; each loader decides what the segments and notes mean.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/common/error.hpp"

namespace berth::boot {

// One piece of a kernel to copy into guest memory: `file_size` bytes from
// `file_offset`, then zeros up to `memory_size` (the bss).
struct LoadSegment {
    std::uint64_t file_offset = 0;
    std::uint64_t file_size = 0;
    std::uint64_t address = 0;  // guest-physical (p_paddr)
    std::uint64_t memory_size = 0;
    std::uint64_t virtual_address = 0;  // p_vaddr: where the kernel's own addresses point
};

// A note's payload (its "descriptor") as a range of the file.
struct ElfNote {
    std::string name;  // the owner, e.g. "Xen" or "GNU", without its NUL
    std::uint32_t type = 0;
    std::uint64_t offset = 0;  // of the descriptor, in the file
    std::uint64_t size = 0;
};

struct ElfImage {
    bool is64 = false;
    std::uint64_t entry = 0;         // e_entry, a virtual address
    std::vector<LoadSegment> loads;  // PT_LOAD with memory, in the file's order
    std::vector<ElfNote> notes;      // every note of every PT_NOTE segment
};

// Makes the Error for a problem: the caller puts the file's role and name in front
// ("Multiboot kernel k.elf" + " is truncated ...").
using ElfFail = std::function<Error(const std::string& why)>;

// Whether `file` starts with the ELF magic.
bool is_elf(std::span<const std::uint8_t> file);

// Reads an ELF32 or ELF64, little-endian, x86 (EM_386 or EM_X86_64) executable
// (ET_EXEC): every header and note range is checked against the file. Throws fail(why)
// for anything else, and when it has no PT_LOAD segment.
ElfImage read_elf(std::span<const std::uint8_t> file, const ElfFail& fail);

// The first note of `type` owned by `name`.
std::optional<ElfNote> find_note(const ElfImage& image, std::string_view name, std::uint32_t type);

}  // namespace berth::boot
