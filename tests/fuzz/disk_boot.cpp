// Fuzz harness: what `vm run --image` reads from a hostile disk image
// (vmm/boot/disk_boot): the partition table (GPT headers, entry arrays, MBR and EBR
// chains), ext4 inside a partition through the disk-range I/O manager, and the boot
// loader's configuration. The first byte picks the input's role: 0, the whole file is
// a raw disk image; 1, a grub.cfg; 2, a BLS entry. Each must be accepted or refused
// with berth::Error, never crash, hang or read outside the disk.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "devices/block/disk_spec.hpp"
#include "tests/fuzz/scratch_file.hpp"
#include "vmm/boot/boot_entry.hpp"
#include "vmm/boot/disk_boot.hpp"
#include "vmm/common/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::span<const std::uint8_t> rest(data + 1, size - 1);
    const std::string text(rest.begin(), rest.end());
    switch (data[0] % 3) {
        case 0: {
            const auto image = berth::fuzz::scratch_file("disk.img", rest);
            try {
                berth::boot::read_image_boot_files({image, berth::devices::block::Access::read_only,
                                                    berth::devices::block::DiskFormat::raw});
            } catch (const berth::Error&) {
            }
            break;
        }
        case 1:
            if (const auto entry = berth::boot::grub_default_entry(text)) {
                berth::boot::without_console_options(entry->options);
            }
            break;
        default:
            berth::boot::bls_default_entry({{"a.conf", text}, {"b.conf", "version 1\n"}},
                                           "default a*");
            break;
    }
    return 0;
}
