// Fuzz harness: the PVH loader (vmm/boot/pvh, over vmm/boot/elf_image) and the --kernel
// format detection on any file: parsing and planning must either accept the kernel or
// refuse it with a bad-input Error, and an accepted kernel must load into a 32 MiB guest
// (with an initrd) without reading outside the file or writing outside the RAM.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "vmm/boot/kernel_format.hpp"
#include "vmm/boot/pvh.hpp"
#include "vmm/common/error.hpp"
#include "vmm/memory/guest_memory.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    constexpr std::uint64_t memory_size = 32 << 20;
    std::vector<std::uint8_t> file(data, data + size);
    (void)berth::boot::detect_kernel_format(file);
    try {
        const auto kernel = berth::boot::parse_pvh_kernel(std::move(file), "fuzz");
        const std::vector<std::uint8_t> initrd(5000, 1);
        const auto plan =
            berth::boot::plan_pvh(kernel, memory_size, "fuzz", initrd.size(), "initrd", 0xe0000);
        berth::memory::GuestRam memory;
        memory.add_ram(0, memory_size);
        berth::boot::load_pvh(kernel, initrd, plan, memory);
    } catch (const berth::Error&) {
    }
    return 0;
}
