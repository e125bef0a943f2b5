#include "vmm/boot/multiboot.hpp"

#include <asm/e820.h>
#include <elf.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "vmm/boot/elf_image.hpp"
#include "vmm/boot/image_bytes.hpp"
#include "vmm/boot/linux_layout.hpp"
#include "vmm/boot/zero_page.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/size.hpp"

namespace berth::boot {

namespace {

constexpr std::uint64_t page_size = 4096;

// The information structure's fields (the specification's section 3.3), as offsets.
constexpr std::size_t info_flags = 0;
constexpr std::size_t info_mem_lower = 4;
constexpr std::size_t info_mem_upper = 8;
constexpr std::size_t info_cmdline = 16;
constexpr std::size_t info_mods_count = 20;
constexpr std::size_t info_mods_addr = 24;
constexpr std::size_t info_mmap_length = 44;
constexpr std::size_t info_mmap_addr = 48;
constexpr std::size_t info_boot_loader_name = 64;
constexpr std::size_t info_size = 116;  // up to and including the framebuffer fields

// Which fields of the information structure are valid (its `flags`).
constexpr std::uint32_t has_memory = 1U << 0;
constexpr std::uint32_t has_cmdline = 1U << 2;
constexpr std::uint32_t has_modules = 1U << 3;
constexpr std::uint32_t has_memory_map = 1U << 6;
constexpr std::uint32_t has_boot_loader_name = 1U << 9;

constexpr std::size_t mmap_entry_size = 24;    // size (u32) + base (u64) + length (u64) + type
constexpr std::size_t module_entry_size = 16;  // mod_start, mod_end, string, reserved

constexpr const char* boot_loader_name = "berth";

struct Header {
    std::size_t offset;  // in the file
    std::uint32_t flags;
};

// The first 32-bit aligned magic; a bad checksum is refused rather than skipped, as
// a loader that searched on would boot the wrong thing or say "no header".
std::optional<std::size_t> find_magic(std::span<const std::uint8_t> file) {
    const std::size_t limit = std::min(file.size(), multiboot_search_bytes);
    for (std::size_t offset = 0; offset + 12 <= limit; offset += 4) {
        if (load<std::uint32_t>(file, offset) == multiboot_header_magic) {
            return offset;
        }
    }
    return std::nullopt;
}

// The ELF file's PT_LOAD segments, at their physical addresses, and its entry point.
void read_elf_segments(MultibootKernel& kernel, const ElfFail& fail) {
    const ElfImage image = read_elf(kernel.file, fail);
    std::optional<std::uint64_t> entry;
    for (const auto& segment : image.loads) {
        // A kernel linked to run higher up gives a virtual entry point: where it lands.
        if (image.entry >= segment.virtual_address &&
            image.entry - segment.virtual_address < segment.memory_size) {
            entry = segment.address + (image.entry - segment.virtual_address);
        }
    }
    if (!entry || *entry > UINT32_MAX) {
        throw fail(
            fmt::format("has its entry point {:#x} outside its loaded segments (or above "
                        "4 GiB, unreachable in 32-bit protected mode)",
                        image.entry));
    }
    kernel.segments = image.loads;
    kernel.entry = static_cast<std::uint32_t>(*entry);
    kernel.format = image.is64 ? "ELF64" : "ELF32";
}

// The a.out kludge: the header's own address fields say what to load where.
void read_address_fields(MultibootKernel& kernel, const Header& header, const auto& fail) {
    const std::span<const std::uint8_t> file(kernel.file);
    if (header.offset + 32 > file.size()) {
        throw fail("is truncated inside its Multiboot header's address fields");
    }
    const auto header_addr = load<std::uint32_t>(file, header.offset + 12);
    const auto load_addr = load<std::uint32_t>(file, header.offset + 16);
    const auto load_end_addr = load<std::uint32_t>(file, header.offset + 20);
    const auto bss_end_addr = load<std::uint32_t>(file, header.offset + 24);
    const auto entry_addr = load<std::uint32_t>(file, header.offset + 28);
    if (header_addr < load_addr || header_addr - load_addr > header.offset) {
        throw fail(
            fmt::format("has Multiboot address fields that do not fit the file: "
                        "header_addr {:#x} with load_addr {:#x} puts the load start "
                        "before the file's first byte",
                        header_addr, load_addr));
    }
    const std::uint64_t offset = header.offset - (header_addr - load_addr);
    std::uint64_t size = file.size() - offset;
    if (load_end_addr != 0) {
        if (load_end_addr < load_addr || load_end_addr - load_addr > size) {
            throw fail(
                fmt::format("has Multiboot address fields that do not fit the file: "
                            "load_end_addr {:#x} with load_addr {:#x} asks for more than "
                            "its {} bytes",
                            load_end_addr, load_addr, file.size()));
        }
        size = load_end_addr - load_addr;
    }
    std::uint64_t memory_size = size;
    if (bss_end_addr != 0) {
        if (bss_end_addr < load_addr + size) {
            throw fail(
                fmt::format("has bss_end_addr {:#x} below the end of its loaded image "
                            "{:#x}; the Multiboot header is corrupt",
                            bss_end_addr, load_addr + size));
        }
        memory_size = bss_end_addr - load_addr;
    }
    if (entry_addr < load_addr || entry_addr - load_addr >= memory_size) {
        throw fail(fmt::format("has its entry point {:#x} outside its loaded image {:#x}-{:#x}",
                               entry_addr, load_addr, load_addr + memory_size));
    }
    kernel.segments.push_back({offset, size, load_addr, memory_size, load_addr});
    kernel.entry = entry_addr;
    kernel.format = "address fields";
}

}  // namespace

std::uint64_t MultibootKernel::start() const {
    std::uint64_t lowest = UINT64_MAX;
    for (const auto& segment : segments) {
        lowest = std::min(lowest, segment.address);
    }
    return lowest;
}

std::uint64_t MultibootKernel::end() const {
    std::uint64_t highest = 0;
    for (const auto& segment : segments) {
        highest = std::max(highest, segment.address + segment.memory_size);
    }
    return highest;
}

bool has_multiboot_header(std::span<const std::uint8_t> file) {
    return find_magic(file).has_value();
}

MultibootKernel parse_multiboot(std::vector<std::uint8_t> file, std::string name) {
    const auto fail = [&](const std::string& why) {
        return bad_input(fmt::format("Multiboot kernel {} {}", name, why));
    };
    const auto offset = find_magic(file);
    if (!offset) {
        throw fail(fmt::format("has no Multiboot header (magic {:#x}) in its first {} bytes",
                               multiboot_header_magic, multiboot_search_bytes));
    }
    const std::span<const std::uint8_t> bytes(file);
    const Header header{*offset, load<std::uint32_t>(bytes, *offset + 4)};
    const auto checksum = load<std::uint32_t>(bytes, *offset + 8);
    if (static_cast<std::uint32_t>(multiboot_header_magic + header.flags + checksum) != 0) {
        throw fail(fmt::format(
            "has a Multiboot header at offset {:#x} with a bad checksum: {:#x}, where magic + "
            "flags + checksum must be 0 (it should be {:#x})",
            header.offset, checksum,
            static_cast<std::uint32_t>(-(multiboot_header_magic + header.flags))));
    }
    if ((header.flags & multiboot_video_mode) != 0) {
        throw fail(
            "requires a video mode (Multiboot header flags bit 2), which berth cannot give: "
            "its only console is the serial port; clear bit 2 and print to COM1");
    }
    const std::uint32_t known = multiboot_page_align_modules | multiboot_memory_info;
    const std::uint32_t unknown = header.flags & 0xffff & ~known;
    if (unknown != 0) {
        throw fail(
            fmt::format("requires something berth does not know (Multiboot header flags bit {}; "
                        "Multiboot 0.6.96 defines bits 0-2): clear it",
                        std::countr_zero(unknown)));
    }
    MultibootKernel kernel;
    kernel.name = name;
    kernel.flags = header.flags;
    kernel.file = std::move(file);
    const bool elf = is_elf(kernel.file) &&
                     (kernel.file[EI_CLASS] == ELFCLASS32 || kernel.file[EI_CLASS] == ELFCLASS64);
    if ((header.flags & multiboot_address_fields) != 0) {
        read_address_fields(kernel, header, fail);
    } else if (elf) {
        read_elf_segments(kernel, fail);
    } else {
        throw fail(
            "is not an ELF file and its Multiboot header has no address fields (flags bit "
            "16): berth cannot tell where to load it; link it as ELF or set bit 16");
    }
    kernel.name = std::move(name);
    return kernel;
}

MultibootPlan plan_multiboot(const MultibootKernel& kernel, std::uint64_t memory_size,
                             const std::string& cmdline, std::span<const MultibootModule> modules) {
    const auto fail = [&](const std::string& why) {
        return bad_input(fmt::format("Multiboot kernel {} {}", kernel.name, why));
    };
    // The memory map has RAM above 1 MiB, where kernels go: the guest needs some.
    if (memory_size < 2 * high_memory_address) {
        throw bad_input(fmt::format(
            "memory {} is too small for Multiboot kernel {}: the kernel and its modules go "
            "above 1 MiB; give the guest 2 MiB or more",
            format_size(memory_size), kernel.name));
    }
    const auto map = e820_map(memory_size);
    const auto in_ram = [&](std::uint64_t address, std::uint64_t size) {
        return in_usable_ram(map, address, size);
    };

    // The block: GDT, information structure, memory map, module list, then strings.
    const std::size_t info_offset = sizeof flat_gdt;
    const std::size_t mmap_offset = info_offset + align_up(info_size, 8);
    const std::size_t modules_offset = mmap_offset + map.size() * mmap_entry_size;
    std::size_t strings_offset = modules_offset + modules.size() * module_entry_size;
    std::vector<std::uint8_t> block(strings_offset, 0);
    const auto add_string = [&](const std::string& text) {
        const auto address = static_cast<std::uint32_t>(multiboot_info_base + block.size());
        block.insert(block.end(), text.begin(), text.end());
        block.push_back(0);
        return address;
    };
    std::memcpy(block.data(), flat_gdt, sizeof flat_gdt);

    std::uint32_t flags = has_memory | has_cmdline | has_memory_map | has_boot_loader_name;
    // mem_lower: KiB of conventional memory from 0; mem_upper: KiB from 1 MiB up to the
    // first hole.
    const auto ram = RamLayout::for_size(memory_size);
    store32(block, info_offset + info_mem_lower, static_cast<std::uint32_t>(ebda_address / 1024));
    store32(block, info_offset + info_mem_upper,
            static_cast<std::uint32_t>((ram.low_size - high_memory_address) / 1024));
    for (std::size_t i = 0; i < map.size(); ++i) {
        const std::size_t at = mmap_offset + i * mmap_entry_size;
        store32(block, at, mmap_entry_size - 4);  // `size` does not count itself
        store64(block, at + 4, map[i].addr);
        store64(block, at + 12, map[i].size);
        store32(block, at + 20, map[i].type);  // 1 (usable) and 2 (reserved), as e820's
    }
    store32(block, info_offset + info_mmap_length,
            static_cast<std::uint32_t>(map.size() * mmap_entry_size));
    store32(block, info_offset + info_mmap_addr,
            static_cast<std::uint32_t>(multiboot_info_base + mmap_offset));
    store32(block, info_offset + info_cmdline, add_string(cmdline));
    store32(block, info_offset + info_boot_loader_name, add_string(boot_loader_name));

    // The kernel: in usable RAM, clear of the block. Checked against the block's final
    // size below, once the strings are in.
    for (const auto& segment : kernel.segments) {
        if (segment.address > UINT32_MAX || !in_ram(segment.address, segment.memory_size)) {
            throw fail(fmt::format(
                "has a segment at {:#x}-{:#x}, outside the guest's usable RAM (0-{:#x} and "
                "{:#x}-{:#x} with --memory {}); link it at 1 MiB or give it more memory",
                segment.address, segment.address + segment.memory_size, ebda_address,
                high_memory_address, ram.low_size, format_size(memory_size)));
        }
    }

    MultibootPlan plan;
    std::uint64_t next = align_up(std::max(kernel.end(), high_memory_address), page_size);
    if (!modules.empty()) {
        flags |= has_modules;
        store32(block, info_offset + info_mods_count, static_cast<std::uint32_t>(modules.size()));
        store32(block, info_offset + info_mods_addr,
                static_cast<std::uint32_t>(multiboot_info_base + modules_offset));
    }
    for (std::size_t i = 0; i < modules.size(); ++i) {
        const auto& module = modules[i];
        if (!in_ram(next, module.bytes.size())) {
            throw bad_input(fmt::format(
                "module {} ({}) does not fit in the guest's RAM after the kernel and the "
                "modules before it (from {:#x}; RAM below 4 GiB ends at {:#x}); give the guest "
                "more --memory",
                module.name, format_size(module.bytes.size()), next, ram.low_size));
        }
        plan.module_addresses.push_back(next);
        const std::size_t at = modules_offset + i * module_entry_size;
        store32(block, at, static_cast<std::uint32_t>(next));
        store32(block, at + 4, static_cast<std::uint32_t>(next + module.bytes.size()));
        store32(block, at + 8, add_string(module.string));
        next = align_up(next + module.bytes.size(), page_size);
    }
    store32(block, info_offset + info_flags, flags);

    if (multiboot_info_base + block.size() > multiboot_info_limit) {
        throw bad_input(fmt::format(
            "the Multiboot command line and module strings take {} bytes, more than the {} "
            "berth has for its boot information below the EBDA; shorten --cmdline or the "
            "--module arguments",
            block.size(), multiboot_info_limit - multiboot_info_base));
    }
    const std::uint64_t block_end = multiboot_info_base + block.size();
    for (const auto& segment : kernel.segments) {
        if (segment.address < block_end &&
            segment.address + segment.memory_size > multiboot_info_base) {
            throw fail(fmt::format(
                "has a segment at {:#x}-{:#x} that overlaps berth's boot information at "
                "{:#x}-{:#x}; link the kernel at 1 MiB or above",
                segment.address, segment.address + segment.memory_size, multiboot_info_base,
                block_end));
        }
    }
    plan.info_block = std::move(block);
    plan.info_address = multiboot_info_base + info_offset;
    return plan;
}

void load_multiboot(const MultibootKernel& kernel, std::span<const MultibootModule> modules,
                    const MultibootPlan& plan, memory::GuestMemory& memory) {
    const std::span<const std::uint8_t> file(kernel.file);
    for (const auto& segment : kernel.segments) {
        memory.write(segment.address, file.subspan(segment.file_offset, segment.file_size));
        memory.fill(segment.address + segment.file_size, segment.memory_size - segment.file_size,
                    0);
    }
    for (std::size_t i = 0; i < modules.size(); ++i) {
        memory.write(plan.module_addresses[i], modules[i].bytes);
    }
    memory.write(multiboot_info_base, plan.info_block);
}

}  // namespace berth::boot
