#include "vmm/boot/firmware.hpp"

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/size.hpp"

namespace berth::boot {

Firmware read_firmware(const std::filesystem::path& path, std::uint64_t memory_size) {
    // A firmware larger than guest RAM is refused before it is read.
    Firmware firmware{path, read_input_file(path, "firmware", memory_size)};
    if (firmware.image.empty()) {
        throw bad_input(fmt::format("firmware {} is empty; give a flat binary built for 0x7c00",
                                    path.string()));
    }
    if (firmware.image.size() > memory_size ||
        memory_size - firmware.image.size() < firmware_load_address) {
        // Whole MiB, as anyone would type it.
        const std::uint64_t needed =
            (firmware_load_address + firmware.image.size() + (1 << 20) - 1) >> 20 << 20;
        throw bad_input(fmt::format(
            "firmware {} ({} bytes) does not fit in {} of guest memory when loaded at {:#x}; "
            "give the guest {} or more",
            path.string(), firmware.image.size(), format_size(memory_size), firmware_load_address,
            format_size(needed)));
    }
    return firmware;
}

void load_firmware(const Firmware& firmware, memory::GuestMemory& memory) {
    memory.write(firmware_load_address, firmware.image);
}

}  // namespace berth::boot
