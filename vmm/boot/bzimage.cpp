#include "vmm/boot/bzimage.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "vmm/boot/multiboot.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/size.hpp"
#include "vmm/memory/platform_layout.hpp"

namespace berth::boot {

namespace {

// Offsets into the file (boot.rst, "The real-mode kernel header").
constexpr std::size_t setup_header_offset = 0x1f1;
constexpr std::size_t boot_flag_offset = 0x1fe;
constexpr std::size_t header_magic_offset = 0x202;
constexpr std::size_t header_length_offset = 0x201;  // header ends at 0x202 + this byte
constexpr std::uint16_t boot_flag = 0xaa55;
constexpr std::uint32_t header_magic = 0x53726448;  // "HdrS"
// Everything up to and including init_size (0x260, 4 bytes) must be present.
constexpr std::size_t min_header_end = 0x264;

std::uint16_t load16(std::span<const std::uint8_t> file, std::size_t offset) {
    std::uint16_t value;
    std::memcpy(&value, file.data() + offset, sizeof value);
    return value;
}

std::uint32_t load32(std::span<const std::uint8_t> file, std::size_t offset) {
    std::uint32_t value;
    std::memcpy(&value, file.data() + offset, sizeof value);
    return value;
}

}  // namespace

std::string protocol_text(std::uint16_t version) {
    return fmt::format("{}.{:02}", version >> 8, version & 0xff);
}

std::uint64_t BzImage::runtime_start() const {
    const std::uint64_t pref_address = header.pref_address;  // a copy: the field is packed
    return std::max(kernel_load_address, pref_address);
}

bool looks_like_bzimage(std::span<const std::uint8_t> file) {
    return file.size() >= header_magic_offset + 4 && load16(file, boot_flag_offset) == boot_flag &&
           load32(file, header_magic_offset) == header_magic;
}

BzImage parse_bzimage(std::vector<std::uint8_t> file, std::string name) {
    const auto fail = [&](const std::string& why) {
        return bad_input(fmt::format("kernel {} {}", name, why));
    };
    const std::string want = "give a Linux x86-64 bzImage such as /boot/vmlinuz-*";
    if (!looks_like_bzimage(file)) {
        throw fail(
            fmt::format("is not a bzImage (no boot sector signature and \"HdrS\" "
                        "header; {} bytes) nor a Multiboot kernel (no magic {:#x} in its first "
                        "{} bytes): {}, or a Multiboot ELF",
                        file.size(), multiboot_header_magic, multiboot_search_bytes, want));
    }
    if (file.size() < min_header_end) {
        throw fail(fmt::format("is truncated: {} bytes, the setup header alone needs {}",
                               file.size(), min_header_end));
    }
    BzImage image;
    // Copy as much of the header as both the file and our struct know about.
    const std::size_t header_end = header_magic_offset + file[header_length_offset];
    const std::size_t length = std::min({header_end - setup_header_offset, sizeof(setup_header),
                                         file.size() - setup_header_offset});
    std::memcpy(&image.header, file.data() + setup_header_offset, length);
    const setup_header& header = image.header;

    if (header.version < min_boot_protocol) {
        throw fail(
            fmt::format("speaks boot protocol {}, berth needs {} or newer (Linux 3.8+) "
                        "for the 64-bit entry point",
                        protocol_text(header.version), protocol_text(min_boot_protocol)));
    }
    if ((header.loadflags & LOADED_HIGH) == 0) {
        throw fail("is a zImage that loads below 1 MiB; " + want);
    }
    if ((header.xloadflags & XLF_KERNEL_64) == 0) {
        throw fail("has no 64-bit entry point (xloadflags lacks XLF_KERNEL_64): " + want);
    }
    if (header.relocatable_kernel == 0) {
        throw fail(
            "is not relocatable (built without CONFIG_RELOCATABLE); berth loads kernels "
            "at 1 MiB");
    }
    const std::size_t setup_sectors = header.setup_sects == 0 ? 4 : header.setup_sects;
    image.setup_size = (setup_sectors + 1) * 512;
    const std::uint64_t protected_size = std::uint64_t{header.syssize} * 16;
    if (image.setup_size >= file.size() || file.size() - image.setup_size < protected_size) {
        throw fail(
            fmt::format("is truncated: {} bytes, its header promises {} of setup and {} "
                        "of kernel",
                        file.size(), image.setup_size, protected_size));
    }
    if (header.init_size == 0) {
        throw fail("has no init_size in its header: " + want);
    }
    // pref_address is 64 bits straight from the file: a corrupt value must neither wrap
    // the end of the kernel's area around nor ask for a guest no one can have. The
    // kernel runs in the RAM below the 32-bit PCI hole.
    // Copies: the header is packed, and std::max and fmt take their arguments by
    // reference, which must not bind to a misaligned field.
    const std::uint64_t pref_address = header.pref_address;
    const std::uint64_t init_size = header.init_size;
    const std::uint64_t start = std::max<std::uint64_t>(kernel_load_address, pref_address);
    if (start > layout::low_ram_limit || init_size > layout::low_ram_limit - start) {
        throw fail(fmt::format(
            "asks for {} bytes (init_size) from address {:#x} (pref_address) to run in, "
            "beyond the {} of RAM below 4 GiB a kernel runs in; its header is corrupt: {}",
            init_size, start, format_size(layout::low_ram_limit), want));
    }
    image.name = std::move(name);
    image.file = std::move(file);
    return image;
}

BzImage read_bzimage(const std::filesystem::path& path) {
    // A kernel runs in the RAM below the PCI hole: a larger file cannot be one.
    return parse_bzimage(read_input_file(path, "kernel", layout::low_ram_limit), path.string());
}

void load_bzimage(const BzImage& kernel, memory::GuestMemory& memory) {
    memory.write(kernel_load_address, kernel.protected_mode());
}

}  // namespace berth::boot
