#include "vmm/boot/zero_page.hpp"

#include <asm/e820.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/size.hpp"
#include "vmm/memory/platform_layout.hpp"

namespace berth::boot {

namespace {

constexpr std::uint64_t page_size = 4096;
// boot.rst: a boot loader that does not register gets the "undefined" ID 0xff.
constexpr std::uint8_t loader_type_undefined = 0xff;
// The setup code's heap would end here if it ran; the kernel only checks that the
// value is sane when CAN_USE_HEAP is set.
constexpr std::uint16_t heap_end = 0xfe00;

}  // namespace

std::vector<boot_e820_entry> e820_map(std::uint64_t memory_size) {
    const RamLayout layout = RamLayout::for_size(memory_size);
    std::vector<boot_e820_entry> map = {
        {0, ebda_address, E820_RAM},
        {ebda_address, 0xa0000 - ebda_address, E820_RESERVED},
        {bios_area_address, high_memory_address - bios_area_address, E820_RESERVED},
        {high_memory_address, layout.low_size - high_memory_address, E820_RAM},
    };
    if (layout.high_size > 0) {
        map.push_back({layout::high_ram_address, layout.high_size, E820_RAM});
    }
    return map;
}

bool in_usable_ram(const std::vector<boot_e820_entry>& map, std::uint64_t address,
                   std::uint64_t size) {
    return std::any_of(map.begin(), map.end(), [&](const boot_e820_entry& entry) {
        return entry.type == E820_RAM && address >= entry.addr &&
               address - entry.addr <= entry.size && size <= entry.size - (address - entry.addr);
    });
}

InitrdPlacement place_initrd(const BzImage& kernel, std::uint64_t memory_size, std::uint64_t size,
                             const std::string& initrd_name) {
    if (size > memory_size) {
        throw bad_input(
            fmt::format("initrd {} ({}) is larger than the guest's memory ({}); give the "
                        "guest more memory",
                        initrd_name, format_size(size), format_size(memory_size)));
    }
    const RamLayout layout = RamLayout::for_size(memory_size);
    // initrd_addr_max is the highest address the initrd's last byte may occupy.
    const std::uint64_t limit =
        std::min<std::uint64_t>(layout.low_size, std::uint64_t{kernel.header.initrd_addr_max} + 1);
    const std::uint64_t floor = kernel.runtime_end();
    const std::uint64_t aligned = (size + page_size - 1) & ~(page_size - 1);
    if (limit < floor || limit - floor < aligned) {
        throw bad_input(fmt::format(
            "memory {} is too small for kernel {} with initrd {}: the kernel needs up to {} "
            "and the initrd {} more; give the guest {} or more",
            format_size(memory_size), kernel.name, initrd_name, format_size(floor),
            format_size(aligned), format_size(((floor + aligned + (1 << 20) - 1) >> 20) << 20)));
    }
    return {(limit - aligned) & ~(page_size - 1), size};
}

void check_cmdline(const BzImage& kernel, const std::string& cmdline, std::size_t own_bytes) {
    // cmdline_size excludes the terminating NUL.
    const std::uint64_t limit =
        std::min<std::uint64_t>(kernel.header.cmdline_size, cmdline_max - 1);
    if (cmdline.size() <= limit) {
        return;
    }
    if (own_bytes > limit) {
        // No user parameter is to blame: the kernel cannot take even berth's own.
        throw bad_input(fmt::format(
            "kernel {} accepts a command line of at most {} bytes (cmdline_size in its "
            "header), fewer than the {} berth itself passes; its header is corrupt, give "
            "another kernel",
            kernel.name, limit, own_bytes));
    }
    throw bad_input(
        fmt::format("kernel command line is {} bytes, kernel {} accepts at most {}; give "
                    "fewer kernel parameters",
                    cmdline.size(), kernel.name, limit));
}

boot_params build_zero_page(const BzImage& kernel, const ZeroPageInputs& inputs) {
    boot_params params{};
    params.hdr = kernel.header;
    setup_header& hdr = params.hdr;
    hdr.type_of_loader = loader_type_undefined;
    hdr.loadflags = static_cast<std::uint8_t>(hdr.loadflags | CAN_USE_HEAP);
    hdr.heap_end_ptr = heap_end;
    hdr.code32_start = static_cast<std::uint32_t>(kernel_load_address);
    hdr.cmd_line_ptr = static_cast<std::uint32_t>(inputs.cmdline_address);
    params.ext_cmd_line_ptr = static_cast<std::uint32_t>(inputs.cmdline_address >> 32);
    if (inputs.initrd) {
        hdr.ramdisk_image = static_cast<std::uint32_t>(inputs.initrd->address);
        hdr.ramdisk_size = static_cast<std::uint32_t>(inputs.initrd->size);
        params.ext_ramdisk_image = static_cast<std::uint32_t>(inputs.initrd->address >> 32);
        params.ext_ramdisk_size = static_cast<std::uint32_t>(inputs.initrd->size >> 32);
    }
    params.acpi_rsdp_addr = inputs.acpi_rsdp_address;
    const auto map = e820_map(inputs.memory_size);
    std::copy(map.begin(), map.end(), params.e820_table);
    params.e820_entries = static_cast<std::uint8_t>(map.size());
    return params;
}

}  // namespace berth::boot
