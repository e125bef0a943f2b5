#include "vmm/boot/pvh.hpp"

#include <asm/e820.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "vmm/boot/flat_gdt.hpp"
#include "vmm/boot/image_bytes.hpp"
#include "vmm/boot/linux_layout.hpp"
#include "vmm/boot/zero_page.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/size.hpp"

namespace berth::boot {

namespace {

constexpr std::uint64_t page_size = 4096;

// The entry note's descriptor: a 32-bit address, or (as Linux writes it on x86-64) a
// 64-bit one that must still fit 32 bits.
std::uint64_t read_entry(std::span<const std::uint8_t> file, const ElfNote& note,
                         const ElfFail& fail) {
    if (note.size == 4) {
        std::uint32_t entry = 0;
        std::memcpy(&entry, file.data() + note.offset, sizeof entry);
        return entry;
    }
    if (note.size == 8) {
        std::uint64_t entry = 0;
        std::memcpy(&entry, file.data() + note.offset, sizeof entry);
        return entry;
    }
    throw fail(fmt::format(
        "has a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) of {} bytes, where a 4- or 8-byte "
        "address belongs; the kernel is corrupt",
        note.size));
}

}  // namespace

std::uint64_t PvhKernel::end() const {
    std::uint64_t highest = 0;
    for (const auto& segment : segments) {
        highest = std::max(highest, segment.address + segment.memory_size);
    }
    return highest;
}

bool has_pvh_note(std::span<const std::uint8_t> file) {
    if (!is_elf(file)) {
        return false;
    }
    try {
        const ElfImage image = read_elf(file, [](const std::string& why) { return Error(why); });
        return find_note(image, "Xen", xen_elfnote_phys32_entry).has_value();
    } catch (const Error&) {
        return false;
    }
}

PvhKernel parse_pvh_kernel(std::vector<std::uint8_t> file, std::string name) {
    const ElfFail fail = [&](const std::string& why) {
        return bad_input(fmt::format("PVH kernel {} {}", name, why));
    };
    const ElfImage image = read_elf(file, fail);
    const auto note = find_note(image, "Xen", xen_elfnote_phys32_entry);
    if (!note) {
        throw fail(
            "has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) and no Multiboot header, so "
            "berth cannot tell where to enter it; build Linux with CONFIG_PVH=y, or give its "
            "bzImage (vmlinuz)");
    }
    const std::uint64_t entry = read_entry(file, *note, fail);
    for (const auto& segment : image.loads) {
        // Physical addresses, wrapping past 2^64, would make the checks below lie.
        if (segment.address + segment.memory_size < segment.address) {
            throw fail(
                fmt::format("has an ELF segment at {:#x} of {:#x} bytes, past the end "
                            "of the address space",
                            segment.address, segment.memory_size));
        }
    }
    const bool entry_loaded =
        std::any_of(image.loads.begin(), image.loads.end(), [&](const LoadSegment& segment) {
            return entry >= segment.address && entry - segment.address < segment.file_size;
        });
    if (!entry_loaded || entry > UINT32_MAX) {
        throw fail(
            fmt::format("has its PVH entry point {:#x} outside the code its segments load (or "
                        "above 4 GiB, unreachable in 32-bit protected mode); the kernel is "
                        "corrupt",
                        entry));
    }
    std::vector<LoadSegment> sorted = image.loads;
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.address < b.address; });
    for (std::size_t i = 1; i < sorted.size(); ++i) {
        const auto& before = sorted[i - 1];
        if (before.address + before.memory_size > sorted[i].address) {
            throw fail(fmt::format(
                "has ELF segments that overlap: {:#x}-{:#x} and {:#x}-{:#x}; the kernel is "
                "corrupt",
                before.address, before.address + before.memory_size, sorted[i].address,
                sorted[i].address + sorted[i].memory_size));
        }
    }
    PvhKernel kernel;
    kernel.format = image.is64 ? "ELF64" : "ELF32";
    kernel.segments = image.loads;
    kernel.entry = static_cast<std::uint32_t>(entry);
    kernel.file = std::move(file);
    kernel.name = std::move(name);
    return kernel;
}

PvhPlan plan_pvh(const PvhKernel& kernel, std::uint64_t memory_size, const std::string& cmdline,
                 std::uint64_t initrd_size, const std::string& initrd_name,
                 std::uint64_t rsdp_address) {
    const auto fail = [&](const std::string& why) {
        return bad_input(fmt::format("PVH kernel {} {}", kernel.name, why));
    };
    const auto map = e820_map(memory_size);
    const auto ram = RamLayout::for_size(memory_size);
    for (const auto& segment : kernel.segments) {
        if (!in_usable_ram(map, segment.address, segment.memory_size)) {
            throw fail(fmt::format(
                "has a segment at {:#x}-{:#x}, outside the guest's usable RAM (0-{:#x} and "
                "{:#x}-{:#x} with memory {}); give the guest more memory",
                segment.address, segment.address + segment.memory_size, ebda_address,
                high_memory_address, ram.low_size, format_size(memory_size)));
        }
    }
    if (cmdline.size() >= pvh_cmdline_max) {
        throw bad_input(
            fmt::format("kernel command line is {} bytes, kernel {} accepts at most {} (Linux's "
                        "COMMAND_LINE_SIZE on x86); give fewer kernel parameters",
                        cmdline.size(), kernel.name, pvh_cmdline_max - 1));
    }

    // The block: GDT, start_info, the module list, the memory map, the strings.
    const std::size_t start_info_offset = sizeof flat_gdt;
    const std::size_t modules_offset = start_info_offset + hvm_start_info_size;
    const bool has_initrd = !initrd_name.empty();
    const std::size_t memmap_offset = modules_offset + (has_initrd ? hvm_modlist_entry_size : 0);
    const std::size_t strings_offset = memmap_offset + map.size() * hvm_memmap_entry_size;
    std::vector<std::uint8_t> block(strings_offset, 0);
    std::memcpy(block.data(), flat_gdt, sizeof flat_gdt);
    const auto address_of = [](std::size_t offset) { return pvh_info_base + offset; };

    const std::size_t info = start_info_offset;
    store32(block, info, hvm_start_info_magic);
    store32(block, info + 4, hvm_start_info_version);
    store64(block, info + hvm_start_info_rsdp_paddr, rsdp_address);
    store64(block, info + hvm_start_info_memmap_paddr, address_of(memmap_offset));
    store32(block, info + hvm_start_info_memmap_entries, static_cast<std::uint32_t>(map.size()));
    for (std::size_t i = 0; i < map.size(); ++i) {
        const std::size_t at = memmap_offset + i * hvm_memmap_entry_size;
        store64(block, at, map[i].addr);
        store64(block, at + 8, map[i].size);
        store32(block, at + 16, map[i].type);  // RAM 1 and reserved 2, as e820's
    }
    store64(block, info + hvm_start_info_cmdline_paddr, address_of(block.size()));
    block.insert(block.end(), cmdline.begin(), cmdline.end());
    block.push_back(0);

    const std::uint64_t block_end = pvh_info_base + block.size();
    for (const auto& segment : kernel.segments) {
        if (segment.address < block_end && segment.address + segment.memory_size > pvh_info_base) {
            throw fail(fmt::format(
                "has a segment at {:#x}-{:#x} that overlaps berth's boot information at "
                "{:#x}-{:#x}; link the kernel at 1 MiB or above",
                segment.address, segment.address + segment.memory_size, pvh_info_base, block_end));
        }
    }

    PvhPlan plan;
    if (has_initrd) {
        // As high as RAM below 4 GiB allows, above the kernel: out of the way of the
        // kernel's early allocations, which start low.
        const std::uint64_t floor =
            align_up(std::max(kernel.end(), high_memory_address), page_size);
        const std::uint64_t aligned = align_up(initrd_size, page_size);
        if (ram.low_size < floor || ram.low_size - floor < aligned) {
            throw bad_input(fmt::format(
                "memory {} is too small for kernel {} with initrd {}: the kernel ends at {} "
                "and the initrd needs {} more; give the guest {} or more",
                format_size(memory_size), kernel.name, initrd_name, format_size(floor),
                format_size(aligned), format_size(align_up(floor + aligned, 1 << 20))));
        }
        const std::uint64_t address = (ram.low_size - aligned) & ~(page_size - 1);
        plan.initrd_address = address;
        store32(block, info + hvm_start_info_nr_modules, 1);
        store64(block, info + hvm_start_info_modlist_paddr, address_of(modules_offset));
        store64(block, modules_offset, address);
        store64(block, modules_offset + 8, initrd_size);
    }
    plan.info_block = std::move(block);
    plan.start_info_address = address_of(start_info_offset);
    return plan;
}

void load_pvh(const PvhKernel& kernel, std::span<const std::uint8_t> initrd, const PvhPlan& plan,
              memory::GuestMemory& memory) {
    const std::span<const std::uint8_t> file(kernel.file);
    for (const auto& segment : kernel.segments) {
        memory.write(segment.address, file.subspan(segment.file_offset, segment.file_size));
        memory.fill(segment.address + segment.file_size, segment.memory_size - segment.file_size,
                    0);
    }
    if (plan.initrd_address) {
        memory.write(*plan.initrd_address, initrd);
    }
    memory.write(pvh_info_base, plan.info_block);
}

}  // namespace berth::boot
