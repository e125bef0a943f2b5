#pragma once
// A crafted bzImage for the boot unit tests: a boot sector and setup header as
// Documentation/arch/x86/boot.rst lays them out, followed by a small protected-mode
// part. Tests change fields (or the file's length) to make it bad in one way.

#include <asm/bootparam.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace berth::test {

inline constexpr std::size_t setup_header_offset = 0x1f1;
inline constexpr std::uint8_t crafted_setup_sects = 4;
inline constexpr std::size_t crafted_protected_size = 0x1000;

inline setup_header good_setup_header() {
    setup_header h{};
    h.setup_sects = crafted_setup_sects;
    h.syssize = crafted_protected_size / 16;
    h.boot_flag = 0xaa55;
    h.jump = 0x6aeb;        // a short jump over the header; its byte 0x201 gives the header length
    h.header = 0x53726448;  // "HdrS"
    h.version = 0x020f;
    h.loadflags = LOADED_HIGH;
    h.initrd_addr_max = 0x7fffffff;
    h.kernel_alignment = 0x200000;
    h.relocatable_kernel = 1;
    h.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
    h.cmdline_size = 2047;
    h.pref_address = 0x1000000;
    h.init_size = 0x2000000;
    return h;
}

inline std::vector<std::uint8_t> crafted_bzimage(const setup_header& header = good_setup_header()) {
    std::vector<std::uint8_t> file((crafted_setup_sects + 1) * 512 + crafted_protected_size, 0);
    std::memcpy(file.data() + setup_header_offset, &header, sizeof header);
    // The protected-mode part starts with a recognizable byte pattern.
    for (std::size_t i = (crafted_setup_sects + 1) * 512; i < file.size(); ++i) {
        file[i] = static_cast<std::uint8_t>(i * 7);
    }
    return file;
}

}  // namespace berth::test
