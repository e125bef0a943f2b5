// Fuzz harness: the Multiboot loader (vmm/boot/multiboot) on any file: parsing and
// planning must either accept the kernel or refuse it with a bad-input Error, and an
// accepted kernel must load into a 16 MiB guest (with one module) without reading
// outside the file or writing outside the RAM.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "vmm/boot/multiboot.hpp"
#include "vmm/common/error.hpp"
#include "vmm/memory/guest_memory.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    constexpr std::uint64_t memory_size = 16 << 20;
    try {
        const auto kernel =
            berth::boot::parse_multiboot(std::vector<std::uint8_t>(data, data + size), "fuzz");
        const std::vector<berth::boot::MultibootModule> modules = {
            {"module", "module arguments", std::vector<std::uint8_t>(5000, 1)}};
        const auto plan = berth::boot::plan_multiboot(kernel, memory_size, "fuzz", modules);
        berth::memory::GuestRam memory;
        memory.add_ram(0, memory_size);
        berth::boot::load_multiboot(kernel, modules, plan, memory);
    } catch (const berth::Error&) {
    }
    return 0;
}
