#include "vmm/boot/kernel_format.hpp"

#include "vmm/boot/bzimage.hpp"
#include "vmm/boot/elf_image.hpp"
#include "vmm/boot/multiboot.hpp"
#include "vmm/boot/pvh.hpp"

namespace berth::boot {

KernelFormat detect_kernel_format(std::span<const std::uint8_t> file) {
    if (looks_like_bzimage(file)) {
        return KernelFormat::bzimage;
    }
    if (has_pvh_note(file)) {
        return KernelFormat::pvh;
    }
    if (has_multiboot_header(file)) {
        return KernelFormat::multiboot;
    }
    return is_elf(file) ? KernelFormat::pvh : KernelFormat::bzimage;
}

}  // namespace berth::boot
