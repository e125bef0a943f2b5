#include <elf.h>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "vmm/boot/kernel_format.hpp"
#include "vmm/boot/multiboot.hpp"
#include "vmm/boot/pvh.hpp"
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

constexpr std::size_t code_offset = 0x1000;
constexpr std::size_t code_size = 0x200;
constexpr std::size_t notes_offset = 0x800;
constexpr std::uint64_t load_address = 0x1000000;  // where Linux's vmlinux goes
constexpr std::uint64_t entry_offset = 0x40;

// Appends one note: namesz, descsz, type, the name and the descriptor padded to 4.
void add_note(std::vector<std::uint8_t>& notes, const std::string& name, std::uint32_t type,
              const std::vector<std::uint8_t>& desc) {
    const auto pad = [&] { notes.resize((notes.size() + 3) / 4 * 4); };
    const std::uint32_t header[] = {static_cast<std::uint32_t>(name.size() + 1),
                                    static_cast<std::uint32_t>(desc.size()), type};
    const auto* raw = reinterpret_cast<const std::uint8_t*>(header);
    notes.insert(notes.end(), raw, raw + sizeof header);
    notes.insert(notes.end(), name.begin(), name.end());
    notes.push_back(0);
    pad();
    notes.insert(notes.end(), desc.begin(), desc.end());
    pad();
}

std::vector<std::uint8_t> le_bytes(std::uint64_t value, std::size_t size) {
    std::vector<std::uint8_t> bytes(size);
    std::memcpy(bytes.data(), &value, size);
    return bytes;
}

// A vmlinux-like ELF64: one PT_LOAD of code_size bytes (byte i is i & 0xff) plus `bss`,
// linked high and loaded at load_address, and a PT_NOTE with a GNU note and Xen notes,
// among them the PVH entry (as Linux writes it: 8 bytes) unless `entry_size` is 0.
std::vector<std::uint8_t> pvh_kernel(std::uint64_t entry = load_address + entry_offset,
                                     std::size_t entry_size = 8, std::uint64_t bss = 0x3000) {
    std::vector<std::uint8_t> notes;
    add_note(notes, "GNU", 3, std::vector<std::uint8_t>(20, 0xab));
    add_note(notes, "Xen", 6, {'l', 'i', 'n', 'u', 'x', 0});
    if (entry_size != 0) {
        add_note(notes, "Xen", boot::xen_elfnote_phys32_entry, le_bytes(entry, entry_size));
    }
    std::vector<std::uint8_t> file(code_offset + code_size);
    for (std::size_t i = 0; i < code_size; ++i) {
        file[code_offset + i] = static_cast<std::uint8_t>(i);
    }
    std::memcpy(file.data() + notes_offset, notes.data(), notes.size());
    Elf64_Ehdr ehdr{};
    std::memcpy(ehdr.e_ident, ELFMAG, SELFMAG);
    ehdr.e_ident[EI_CLASS] = ELFCLASS64;
    ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
    ehdr.e_ident[EI_VERSION] = EV_CURRENT;
    ehdr.e_type = ET_EXEC;
    ehdr.e_machine = EM_X86_64;
    ehdr.e_version = EV_CURRENT;
    ehdr.e_entry = 0xffffffff81000000;
    ehdr.e_phoff = sizeof ehdr;
    ehdr.e_ehsize = sizeof ehdr;
    ehdr.e_phentsize = sizeof(Elf64_Phdr);
    ehdr.e_phnum = 2;
    put(file, 0, ehdr);
    Elf64_Phdr load{};
    load.p_type = PT_LOAD;
    load.p_offset = code_offset;
    load.p_vaddr = 0xffffffff81000000;
    load.p_paddr = load_address;
    load.p_filesz = code_size;
    load.p_memsz = code_size + bss;
    put(file, sizeof ehdr, load);
    Elf64_Phdr note{};
    note.p_type = PT_NOTE;
    note.p_offset = notes_offset;
    note.p_filesz = notes.size();
    note.p_align = 4;
    put(file, sizeof ehdr + sizeof load, note);
    return file;
}

constexpr std::size_t second_phdr = sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr);

void check_rejected(std::vector<std::uint8_t> file, const std::string& expected) {
    try {
        boot::parse_pvh_kernel(std::move(file), "vmlinux");
        FAIL("parse_pvh_kernel accepted a bad kernel; expected: " << expected);
    } catch (const Error& e) {
        CHECK(e.status() == ExitStatus::bad_input);
        CHECK_THAT(std::string(e.what()), Catch::StartsWith("PVH kernel vmlinux "));
        CHECK_THAT(std::string(e.what()), Catch::Contains(expected));
    }
}

void check_plan_rejected(const boot::PvhKernel& kernel, std::uint64_t memory,
                         const std::string& cmdline, std::uint64_t initrd_size,
                         const std::string& expected) {
    try {
        boot::plan_pvh(kernel, memory, cmdline, initrd_size, initrd_size ? "initrd.img" : "", 0);
        FAIL("plan_pvh accepted a bad boot; expected: " << expected);
    } catch (const Error& e) {
        CHECK(e.status() == ExitStatus::bad_input);
        CHECK_THAT(std::string(e.what()), Catch::Contains(expected));
    }
}

}  // namespace

TEST_CASE("the PVH entry note of a vmlinux-like ELF is found", "[boot][pvh]") {
    const auto file = pvh_kernel();
    CHECK(boot::has_pvh_note(file));
    CHECK(boot::detect_kernel_format(file) == boot::KernelFormat::pvh);
    const auto kernel = boot::parse_pvh_kernel(file, "vmlinux");
    CHECK(kernel.format == "ELF64");
    CHECK(kernel.entry == load_address + entry_offset);
    REQUIRE(kernel.segments.size() == 1);
    CHECK(kernel.segments[0].address == load_address);
    CHECK(kernel.end() == load_address + code_size + 0x3000);

    SECTION("a 4-byte entry note") {
        CHECK(boot::parse_pvh_kernel(pvh_kernel(load_address + 8, 4), "vmlinux").entry ==
              load_address + 8);
    }
}

TEST_CASE("--kernel formats are told apart by their headers", "[boot][pvh]") {
    std::vector<std::uint8_t> bzimage(0x1000);
    bzimage[0x1fe] = 0x55;
    bzimage[0x1ff] = 0xaa;
    std::memcpy(bzimage.data() + 0x202, "HdrS", 4);
    CHECK(boot::detect_kernel_format(bzimage) == boot::KernelFormat::bzimage);

    // An ELF file with a Multiboot header and no PVH note is Multiboot; with both, PVH.
    auto multiboot = pvh_kernel(0, 0);
    const std::uint32_t flags = 0;
    put(multiboot, code_offset, boot::multiboot_header_magic);
    put(multiboot, code_offset + 4, flags);
    put(multiboot, code_offset + 8, static_cast<std::uint32_t>(-boot::multiboot_header_magic));
    CHECK(boot::detect_kernel_format(multiboot) == boot::KernelFormat::multiboot);
    auto both = pvh_kernel();
    put(both, code_offset, boot::multiboot_header_magic);
    put(both, code_offset + 4, flags);
    put(both, code_offset + 8, static_cast<std::uint32_t>(-boot::multiboot_header_magic));
    CHECK(boot::detect_kernel_format(both) == boot::KernelFormat::pvh);

    // An ELF file with neither goes to the PVH parser, which says what is missing;
    // anything else to the bzImage parser.
    CHECK(boot::detect_kernel_format(pvh_kernel(0, 0)) == boot::KernelFormat::pvh);
    CHECK(boot::detect_kernel_format(std::vector<std::uint8_t>(64, 0x90)) ==
          boot::KernelFormat::bzimage);
}

TEST_CASE("bad PVH kernels are refused with the reason", "[boot][pvh]") {
    SECTION("no entry note") {
        check_rejected(pvh_kernel(0, 0), "has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");
    }
    SECTION("an entry outside the loaded code") {
        check_rejected(pvh_kernel(0x5000000), "PVH entry point 0x5000000 outside the code");
        // In the bss: nothing was loaded there.
        check_rejected(pvh_kernel(load_address + code_size + 0x10), "outside the code");
    }
    SECTION("an entry above 4 GiB") {
        check_rejected(pvh_kernel(0x100000000 + load_address), "above 4 GiB");
    }
    SECTION("an entry note of the wrong size") {
        check_rejected(pvh_kernel(load_address, 2),
                       "PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) of 2");
    }
    SECTION("a truncated file") {
        auto file = pvh_kernel();
        file.resize(40);
        check_rejected(file, "is truncated: 40 bytes, less than its ELF header");
        file = pvh_kernel();
        file.resize(code_offset + 0x10);
        check_rejected(file, "corrupt ELF segment 0");
    }
    SECTION("a note that runs past its segment") {
        auto file = pvh_kernel();
        put<std::uint32_t>(file, notes_offset + 4, 0x7fffffff);  // the GNU note's descsz
        check_rejected(file, "corrupt ELF note at offset 0x800 of segment 1");
    }
    SECTION("a note segment beyond the file") {
        auto file = pvh_kernel();
        put<std::uint64_t>(file, second_phdr + offsetof(Elf64_Phdr, p_offset), 0x7ffffff0);
        check_rejected(file, "corrupt ELF note segment 1");
    }
    SECTION("overlapping segments") {
        auto file = pvh_kernel();
        Elf64_Phdr load{};
        load.p_type = PT_LOAD;
        load.p_offset = code_offset;
        load.p_paddr = load_address + 0x1000;
        load.p_filesz = 0x10;
        load.p_memsz = 0x10;
        put(file, second_phdr, load);  // replaces the notes: the entry note is gone too
        check_rejected(file, "has no PVH entry note");
        auto with_notes = pvh_kernel();
        put<std::uint16_t>(with_notes, offsetof(Elf64_Ehdr, e_phnum), 3);
        // Move the program headers to the end of the file, with a third one overlapping.
        const std::size_t table = with_notes.size();
        std::vector<std::uint8_t> headers(with_notes.begin() + sizeof(Elf64_Ehdr),
                                          with_notes.begin() + second_phdr + sizeof(Elf64_Phdr));
        with_notes.insert(with_notes.end(), headers.begin(), headers.end());
        put(with_notes, with_notes.size(), load);
        put<std::uint64_t>(with_notes, offsetof(Elf64_Ehdr, e_phoff), table);
        check_rejected(with_notes,
                       "has ELF segments that overlap: 0x1000000-0x1003200 and "
                       "0x1001000-0x1001010");
    }
    SECTION("not x86") {
        auto file = pvh_kernel();
        put<std::uint16_t>(file, offsetof(Elf64_Ehdr, e_machine), EM_AARCH64);
        check_rejected(file, "is an ELF file for machine 183");
    }
}

TEST_CASE("start_info describes the command line, the initrd, memory and the RSDP", "[boot][pvh]") {
    const auto kernel = boot::parse_pvh_kernel(pvh_kernel(), "vmlinux");
    constexpr std::uint64_t memory_size = 64 << 20;
    const std::vector<std::uint8_t> initrd(0x1801, 7);
    const auto plan = boot::plan_pvh(kernel, memory_size, "console=ttyS0 hello", initrd.size(),
                                     "initrd.img", 0xe0000);
    memory::GuestRam memory;
    memory.add_ram(0, memory_size);
    memory.fill(load_address + code_size, 0x3000, 0xee);  // the bss must be zeroed
    boot::load_pvh(kernel, initrd, plan, memory);

    CHECK(memory.read_object<std::uint8_t>(load_address + 0x42) == 0x42);
    CHECK(memory.read_object<std::uint8_t>(load_address + code_size + 0x2fff) == 0);
    CHECK(memory.read_object<std::uint64_t>(boot::pvh_info_base + 0x10) == boot::flat_gdt[2]);

    const std::uint64_t info = plan.start_info_address;
    CHECK(info == boot::pvh_info_base + sizeof boot::flat_gdt);
    CHECK(info % 8 == 0);
    CHECK(memory.read_object<std::uint32_t>(info) == 0x336ec578);
    CHECK(memory.read_object<std::uint32_t>(info + 4) == 1);         // version
    CHECK(memory.read_object<std::uint32_t>(info + 8) == 0);         // flags
    CHECK(memory.read_object<std::uint32_t>(info + 12) == 1);        // nr_modules
    CHECK(memory.read_object<std::uint64_t>(info + 32) == 0xe0000);  // rsdp_paddr

    const auto cmdline = memory.read_object<std::uint64_t>(info + 24);
    const std::string expected = "console=ttyS0 hello";
    std::string text(expected.size() + 1, '?');
    memory.read(cmdline, std::span(reinterpret_cast<std::uint8_t*>(text.data()), text.size()));
    CHECK(text == expected + '\0');

    // The module: the initrd, page aligned, at the top of RAM, its bytes there.
    const auto modlist = memory.read_object<std::uint64_t>(info + 16);
    const auto initrd_at = memory.read_object<std::uint64_t>(modlist);
    CHECK(initrd_at == *plan.initrd_address);
    CHECK(initrd_at % 4096 == 0);
    CHECK(initrd_at == memory_size - 0x2000);
    CHECK(memory.read_object<std::uint64_t>(modlist + 8) == initrd.size());
    CHECK(memory.read_object<std::uint64_t>(modlist + 16) == 0);  // no module cmdline
    CHECK(memory.read_object<std::uint8_t>(initrd_at + 0x1800) == 7);

    // The memory map (version 1): berth's e820 map, 24-byte entries.
    const auto memmap = memory.read_object<std::uint64_t>(info + 40);
    const auto entries = memory.read_object<std::uint32_t>(info + 48);
    REQUIRE(entries == 4);
    std::uint64_t usable = 0;
    for (std::uint32_t i = 0; i < entries; ++i) {
        const std::uint64_t at = memmap + i * 24;
        if (memory.read_object<std::uint32_t>(at + 16) == 1) {
            usable += memory.read_object<std::uint64_t>(at + 8);
        }
        CHECK(memory.read_object<std::uint32_t>(at + 20) == 0);
    }
    CHECK(usable == memory_size - (0x100000 - 0x9fc00));
    CHECK(memory.read_object<std::uint64_t>(memmap + 3 * 24) == 0x100000);

    SECTION("without an initrd there is no module") {
        const auto bare = boot::plan_pvh(kernel, memory_size, "x", 0, "", 0);
        CHECK_FALSE(bare.initrd_address);
        boot::load_pvh(kernel, {}, bare, memory);
        CHECK(memory.read_object<std::uint32_t>(bare.start_info_address + 12) == 0);
        CHECK(memory.read_object<std::uint64_t>(bare.start_info_address + 16) == 0);
    }
}

TEST_CASE("a PVH boot that does not fit is refused", "[boot][pvh]") {
    const auto kernel = boot::parse_pvh_kernel(pvh_kernel(), "vmlinux");
    check_plan_rejected(kernel, 16 << 20, "x", 0,
                        "has a segment at 0x1000000-0x1003200, outside the guest's usable RAM");
    check_plan_rejected(kernel, 32 << 20, "x", 20 << 20,
                        "memory 32 MiB is too small for kernel vmlinux with initrd initrd.img");
    check_plan_rejected(kernel, 32 << 20, std::string(2048, 'a'), 0,
                        "kernel command line is 2048 bytes, kernel vmlinux accepts at most 2047");
    CHECK_NOTHROW(boot::plan_pvh(kernel, 32 << 20, std::string(2047, 'a'), 0, "", 0));
}
