// Fuzz harness: the bzImage loader (vmm/boot/bzimage) on any file: parsing must either
// accept the image or refuse it with a bad-input Error, and an accepted image must load
// into guest RAM and say where it runs without reading outside the file or writing
// outside the RAM.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "vmm/boot/bzimage.hpp"
#include "vmm/common/error.hpp"
#include "vmm/memory/guest_memory.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const berth::boot::BzImage kernel =
            berth::boot::parse_bzimage(std::vector<std::uint8_t>(data, data + size), "fuzz");
        (void)kernel.runtime_end();
        (void)berth::boot::protocol_text(kernel.protocol());
        berth::memory::GuestRam memory;
        memory.add_ram(0, 4 << 20);
        berth::boot::load_bzimage(kernel, memory);
    } catch (const berth::Error&) {
    }
    return 0;
}
