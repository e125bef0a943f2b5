#pragma once
// A Linux x86 kernel in bzImage format (Documentation/arch/x86/boot.rst): a real-mode
// setup part whose header describes the kernel, followed by the protected-mode part
// that berth loads at 1 MiB and enters through its 64-bit entry point. berth never
// runs the real-mode setup code; it fills in the zero page itself.

#include <asm/bootparam.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "vmm/memory/guest_memory.hpp"

namespace berth::boot {

// Where the protected-mode kernel goes; a relocatable kernel moves itself from here.
inline constexpr std::uint64_t kernel_load_address = 0x100000;
// The 64-bit entry point is 0x200 bytes into the protected-mode kernel.
inline constexpr std::uint64_t kernel_64bit_entry_offset = 0x200;
// 2.12 is the first protocol with xloadflags, which tells us the kernel has a 64-bit
// entry point; every x86-64 kernel since Linux 3.8 speaks it.
inline constexpr std::uint16_t min_boot_protocol = 0x020c;

struct BzImage {
    std::string name;            // the file, for messages
    setup_header header{};       // the setup header as the file has it
    std::size_t setup_size = 0;  // boot sector + real-mode setup, in bytes
    std::vector<std::uint8_t> file;

    // The protected-mode kernel: everything after the setup part.
    std::span<const std::uint8_t> protected_mode() const {
        return std::span(file).subspan(setup_size);
    }
    std::uint16_t protocol() const { return header.version; }
    // The lowest guest-physical address above which the kernel needs init_size bytes
    // to decompress and run (it moves itself up to pref_address).
    std::uint64_t runtime_start() const;
    std::uint64_t runtime_end() const { return runtime_start() + header.init_size; }
};

// Whether `file` starts like a bzImage: the boot sector signature and the "HdrS" magic.
bool looks_like_bzimage(std::span<const std::uint8_t> file);

// Checks the image as boot.rst describes (boot sector signature, "HdrS", protocol,
// 64-bit entry, relocatable, complete). Every problem is a bad-input Error naming `name`.
BzImage parse_bzimage(std::vector<std::uint8_t> file, std::string name);

// Reads and parses a kernel file.
BzImage read_bzimage(const std::filesystem::path& path);

// Copies the protected-mode kernel to kernel_load_address.
void load_bzimage(const BzImage& kernel, memory::GuestMemory& memory);

// "2.15" for 0x020f.
std::string protocol_text(std::uint16_t version);

}  // namespace berth::boot
