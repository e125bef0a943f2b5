#pragma once
// Which kind of kernel a --kernel file is, told by its headers alone (never by its
// name), so that one flag boots all three:
// - a Linux bzImage (vmlinuz): the boot sector signature and "HdrS" (bzimage.hpp);
// - an ELF file with a PVH entry note, such as Linux's uncompressed vmlinux (pvh.hpp);
// - a Multiboot kernel: the Multiboot magic in its first 8 KiB (multiboot.hpp).
// An ELF file with both a PVH note and a Multiboot header boots through PVH, as
// Firecracker and Cloud Hypervisor would.

#include <cstdint>
#include <span>

namespace berth::boot {

enum class KernelFormat {
    bzimage,  // also anything unrecognised: parse_bzimage says what is wrong
    pvh,      // also an ELF file with neither: parse_pvh_kernel says what is missing
    multiboot,
};

KernelFormat detect_kernel_format(std::span<const std::uint8_t> file);

}  // namespace berth::boot
