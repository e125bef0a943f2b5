#include <elf.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "vmm/boot/multiboot.hpp"
#include "vmm/common/error.hpp"
#include "vmm/memory/guest_memory.hpp"

using namespace berth;

namespace {

template <typename T>
void put(std::vector<std::uint8_t>& bytes, std::size_t offset, const T& value) {
    if (bytes.size() < offset + sizeof value) {
        bytes.resize(offset + sizeof value);
    }
    std::memcpy(bytes.data() + offset, &value, sizeof value);
}

template <typename T>
T get(std::span<const std::uint8_t> bytes, std::size_t offset) {
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

void put_header(std::vector<std::uint8_t>& file, std::size_t offset, std::uint32_t flags) {
    put(file, offset, boot::multiboot_header_magic);
    put(file, offset + 4, flags);
    put(file, offset + 8, static_cast<std::uint32_t>(-(boot::multiboot_header_magic + flags)));
}

constexpr std::size_t code_offset = 0x1000;
constexpr std::uint32_t code_size = 0x100;

// An ELF executable with one PT_LOAD segment of code_size file bytes (the byte i is
// i & 0xff) and `bss` more, linked at `vaddr` and loaded at `paddr`, with a Multiboot
// header at the start of the segment.
template <typename Ehdr, typename Phdr>
std::vector<std::uint8_t> elf_kernel(std::uint64_t paddr, std::uint64_t vaddr, std::uint64_t bss,
                                     std::uint32_t flags = 0) {
    std::vector<std::uint8_t> file(code_offset + code_size);
    for (std::size_t i = 0; i < code_size; ++i) {
        file[code_offset + i] = static_cast<std::uint8_t>(i);
    }
    const bool is64 = sizeof(Ehdr) == sizeof(Elf64_Ehdr);
    Ehdr ehdr{};
    std::memcpy(ehdr.e_ident, ELFMAG, SELFMAG);
    ehdr.e_ident[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
    ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
    ehdr.e_ident[EI_VERSION] = EV_CURRENT;
    ehdr.e_type = ET_EXEC;
    ehdr.e_machine = is64 ? EM_X86_64 : EM_386;
    ehdr.e_version = EV_CURRENT;
    ehdr.e_entry = vaddr + 0x20;
    ehdr.e_phoff = sizeof(Ehdr);
    ehdr.e_ehsize = sizeof(Ehdr);
    ehdr.e_phentsize = sizeof(Phdr);
    ehdr.e_phnum = 1;
    put(file, 0, ehdr);
    Phdr phdr{};
    phdr.p_type = PT_LOAD;
    phdr.p_offset = code_offset;
    phdr.p_vaddr = vaddr;
    phdr.p_paddr = paddr;
    phdr.p_filesz = code_size;
    phdr.p_memsz = code_size + bss;
    put(file, sizeof(Ehdr), phdr);
    put_header(file, code_offset, flags);
    return file;
}

std::vector<std::uint8_t> elf32_kernel(std::uint64_t paddr = 0x100000, std::uint64_t bss = 0x3000,
                                       std::uint32_t flags = 0) {
    return elf_kernel<Elf32_Ehdr, Elf32_Phdr>(paddr, paddr, bss, flags);
}

void check_rejected(std::vector<std::uint8_t> file, const std::string& expected) {
    try {
        boot::parse_multiboot(std::move(file), "kernel.elf");
        FAIL("parse_multiboot accepted a bad kernel; expected: " << expected);
    } catch (const Error& e) {
        CHECK(e.status() == ExitStatus::bad_input);
        CHECK_THAT(std::string(e.what()), Catch::Contains("Multiboot kernel kernel.elf"));
        CHECK_THAT(std::string(e.what()), Catch::Contains(expected));
    }
}

void check_plan_rejected(const boot::MultibootKernel& kernel, std::uint64_t memory,
                         std::span<const boot::MultibootModule> modules,
                         const std::string& expected) {
    try {
        boot::plan_multiboot(kernel, memory, "kernel.elf", modules);
        FAIL("plan_multiboot accepted a bad boot; expected: " << expected);
    } catch (const Error& e) {
        CHECK(e.status() == ExitStatus::bad_input);
        CHECK_THAT(std::string(e.what()), Catch::Contains(expected));
    }
}

std::string guest_string(const memory::GuestMemory& memory, std::uint64_t address) {
    std::string text;
    for (char c; (c = static_cast<char>(memory.read_object<std::uint8_t>(address))) != 0;
         ++address) {
        text += c;
    }
    return text;
}

}  // namespace

TEST_CASE("an ELF32 Multiboot kernel is found and its segment read", "[boot][multiboot]") {
    const auto file = elf32_kernel();
    CHECK(boot::has_multiboot_header(file));
    const auto kernel = boot::parse_multiboot(file, "kernel.elf");
    CHECK(kernel.format == "ELF32");
    REQUIRE(kernel.segments.size() == 1);
    CHECK(kernel.segments[0].address == 0x100000);
    CHECK(kernel.segments[0].file_offset == code_offset);
    CHECK(kernel.segments[0].file_size == code_size);
    CHECK(kernel.segments[0].memory_size == code_size + 0x3000);
    CHECK(kernel.entry == 0x100020);
    CHECK(kernel.start() == 0x100000);
    CHECK(kernel.end() == 0x100000 + code_size + 0x3000);
}

TEST_CASE("an ELF64 kernel linked high is loaded at its physical address", "[boot][multiboot]") {
    const auto file =
        elf_kernel<Elf64_Ehdr, Elf64_Phdr>(0x200000, 0xffffffff80200000, 0, /*flags=*/0x3);
    const auto kernel = boot::parse_multiboot(file, "kernel.elf");
    CHECK(kernel.format == "ELF64");
    CHECK(kernel.segments[0].address == 0x200000);
    CHECK(kernel.entry == 0x200020);  // the virtual entry, translated
}

TEST_CASE("the address fields load a flat image", "[boot][multiboot]") {
    // A flat binary linked at 1 MiB, the header 0x40 bytes in; 0x1000 bytes of bss.
    std::vector<std::uint8_t> file(0x200, 0xaa);
    put_header(file, 0x40, boot::multiboot_address_fields);
    put<std::uint32_t>(file, 0x4c, 0x100040);  // header_addr
    put<std::uint32_t>(file, 0x50, 0x100000);  // load_addr
    put<std::uint32_t>(file, 0x54, 0);         // load_end_addr: the whole file
    put<std::uint32_t>(file, 0x58, 0x101200);  // bss_end_addr
    put<std::uint32_t>(file, 0x5c, 0x100080);  // entry_addr
    const auto kernel = boot::parse_multiboot(file, "kernel.elf");
    CHECK(kernel.format == "address fields");
    REQUIRE(kernel.segments.size() == 1);
    CHECK(kernel.segments[0].file_offset == 0);
    CHECK(kernel.segments[0].file_size == 0x200);
    CHECK(kernel.segments[0].memory_size == 0x1200);
    CHECK(kernel.entry == 0x100080);

    SECTION("an entry point outside the image is refused") {
        put<std::uint32_t>(file, 0x5c, 0x200000);
        check_rejected(file, "entry point 0x200000 outside its loaded image");
    }
    SECTION("a load start before the file's first byte is refused") {
        put<std::uint32_t>(file, 0x50, 0x0f0000);
        check_rejected(file, "before the file's first byte");
    }
}

TEST_CASE("bad Multiboot headers are refused with the reason", "[boot][multiboot]") {
    SECTION("bad checksum") {
        auto file = elf32_kernel();
        put<std::uint32_t>(file, code_offset + 8, 0x12345678);
        check_rejected(file, "at offset 0x1000 with a bad checksum: 0x12345678");
    }
    SECTION("video mode") {
        check_rejected(elf32_kernel(0x100000, 0, boot::multiboot_video_mode),
                       "requires a video mode (Multiboot header flags bit 2)");
    }
    SECTION("an unknown required flag") {
        check_rejected(elf32_kernel(0x100000, 0, 1U << 5), "flags bit 5");
    }
    SECTION("unknown optional flags are ignored") {
        CHECK_NOTHROW(boot::parse_multiboot(elf32_kernel(0x100000, 0, 1U << 20), "kernel.elf"));
    }
    SECTION("the header beyond the first 8192 bytes") {
        std::vector<std::uint8_t> file(0x3000);
        put_header(file, 0x2000, 0);
        CHECK_FALSE(boot::has_multiboot_header(file));
        check_rejected(file, "has no Multiboot header");
    }
    SECTION("not ELF, no address fields") {
        std::vector<std::uint8_t> file(0x100);
        put_header(file, 0, 0);
        check_rejected(file, "is not an ELF file and its Multiboot header has no address fields");
    }
    SECTION("a program header table beyond the file") {
        auto file = elf32_kernel();
        put<std::uint32_t>(file, offsetof(Elf32_Ehdr, e_phoff), 0x7ffffff0);
        check_rejected(file, "corrupt ELF program header table");
    }
    SECTION("a segment beyond the file") {
        auto file = elf32_kernel();
        put<std::uint32_t>(file, sizeof(Elf32_Ehdr) + offsetof(Elf32_Phdr, p_filesz), 0x10000);
        put<std::uint32_t>(file, sizeof(Elf32_Ehdr) + offsetof(Elf32_Phdr, p_memsz), 0x10000);
        check_rejected(file, "corrupt ELF segment 0");
    }
    SECTION("an entry point outside the segments") {
        auto file = elf32_kernel();
        put<std::uint32_t>(file, offsetof(Elf32_Ehdr, e_entry), 0x5000000);
        check_rejected(file, "entry point 0x5000000 outside its loaded segments");
    }
}

TEST_CASE("the information structure describes memory, command line and modules",
          "[boot][multiboot]") {
    const auto kernel = boot::parse_multiboot(elf32_kernel(0x100000, 0x3000), "kernel.elf");
    const std::vector<boot::MultibootModule> modules = {
        {"initrd.img", "initrd.img", {1, 2, 3, 4, 5}},
        {"data.bin", "data.bin answer=42", std::vector<std::uint8_t>(0x1001, 7)},
    };
    constexpr std::uint64_t memory_size = 64 << 20;
    const auto plan = boot::plan_multiboot(kernel, memory_size, "kernel.elf console=com1", modules);
    memory::GuestRam memory;
    memory.add_ram(0, memory_size);
    boot::load_multiboot(kernel, modules, plan, memory);

    // The kernel: its bytes, then its bss zeroed.
    CHECK(memory.read_object<std::uint8_t>(0x100000 + 0x42) == 0x42);
    CHECK(memory.read_object<std::uint32_t>(0x100000) == boot::multiboot_header_magic);
    CHECK(memory.read_object<std::uint8_t>(0x100000 + code_size + 0x2fff) == 0);
    // The GDT at the block's start, with the selectors the vCPU uses.
    CHECK(memory.read_object<std::uint64_t>(boot::multiboot_info_base + 0x10) == boot::flat_gdt[2]);

    const std::uint64_t info = plan.info_address;
    CHECK(info >= boot::multiboot_info_base);
    const auto flags = memory.read_object<std::uint32_t>(info);
    CHECK(flags == ((1U << 0) | (1U << 2) | (1U << 3) | (1U << 6) | (1U << 9)));
    CHECK(memory.read_object<std::uint32_t>(info + 4) == 639);
    CHECK(memory.read_object<std::uint32_t>(info + 8) == (64 - 1) * 1024);
    CHECK(guest_string(memory, memory.read_object<std::uint32_t>(info + 16)) ==
          "kernel.elf console=com1");
    CHECK(guest_string(memory, memory.read_object<std::uint32_t>(info + 64)) == "berth");

    // The memory map: the usable RAM adds up to --memory less the EBDA and BIOS area.
    const auto mmap_length = memory.read_object<std::uint32_t>(info + 44);
    const auto mmap_addr = memory.read_object<std::uint32_t>(info + 48);
    std::uint64_t usable = 0;
    std::uint64_t highest = 0;
    for (std::uint64_t at = mmap_addr; at < mmap_addr + mmap_length;
         at += 4 + memory.read_object<std::uint32_t>(at)) {
        CHECK(memory.read_object<std::uint32_t>(at) == 20);
        const auto base = memory.read_object<std::uint64_t>(at + 4);
        const auto length = memory.read_object<std::uint64_t>(at + 12);
        if (memory.read_object<std::uint32_t>(at + 20) == 1) {
            usable += length;
            highest = std::max(highest, base + length);
        }
    }
    CHECK(usable == memory_size - (0x100000 - 0x9fc00));
    CHECK(highest == memory_size);

    // The modules: after the kernel, page aligned, with their bytes and strings.
    CHECK(memory.read_object<std::uint32_t>(info + 20) == 2);
    const auto mods = memory.read_object<std::uint32_t>(info + 24);
    const auto start0 = memory.read_object<std::uint32_t>(mods);
    CHECK(start0 == 0x104000);
    CHECK(memory.read_object<std::uint32_t>(mods + 4) == start0 + 5);
    CHECK(memory.read_object<std::uint8_t>(start0 + 4) == 5);
    CHECK(guest_string(memory, memory.read_object<std::uint32_t>(mods + 8)) == "initrd.img");
    const auto start1 = memory.read_object<std::uint32_t>(mods + 16);
    CHECK(start1 == 0x105000);
    CHECK(memory.read_object<std::uint32_t>(mods + 20) == start1 + 0x1001);
    CHECK(memory.read_object<std::uint8_t>(start1 + 0x1000) == 7);
    CHECK(guest_string(memory, memory.read_object<std::uint32_t>(mods + 24)) ==
          "data.bin answer=42");
}

TEST_CASE("kernels and modules that do not fit are refused", "[boot][multiboot]") {
    SECTION("a segment beyond the guest's RAM") {
        const auto kernel = boot::parse_multiboot(elf32_kernel(0x8000000), "kernel.elf");
        check_plan_rejected(kernel, 64 << 20, {}, "has a segment at 0x8000000-0x8003100, outside");
    }
    SECTION("a segment in the BIOS area") {
        const auto kernel = boot::parse_multiboot(elf32_kernel(0xf0000, 0), "kernel.elf");
        check_plan_rejected(kernel, 64 << 20, {}, "outside the guest's usable RAM");
    }
    SECTION("a segment over berth's information block") {
        const auto kernel = boot::parse_multiboot(elf32_kernel(0x10000, 0), "kernel.elf");
        check_plan_rejected(kernel, 64 << 20, {}, "overlaps berth's boot information at 0x10000");
    }
    SECTION("a module larger than the RAM left") {
        const auto kernel = boot::parse_multiboot(elf32_kernel(), "kernel.elf");
        const std::vector<boot::MultibootModule> modules = {
            {"big.bin", "big.bin", std::vector<std::uint8_t>(4 << 20)}};
        check_plan_rejected(kernel, 4 << 20, modules, "module big.bin (4 MiB) does not fit");
    }
}
