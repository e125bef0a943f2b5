#include "vmm/boot/elf_image.hpp"

#include <elf.h>

#include <cstring>

#include <fmt/format.h>

#include "vmm/boot/image_bytes.hpp"

namespace berth::boot {

namespace {

// The notes of one PT_NOTE segment: each is namesz, descsz and type (32 bits each),
// then the name and the descriptor, each padded to the segment's alignment.
void read_notes(std::span<const std::uint8_t> segment, std::uint64_t segment_offset,
                std::uint64_t alignment, std::size_t index, ElfImage& image, const ElfFail& fail) {
    std::uint64_t at = 0;
    while (segment.size() - at >= 12) {
        const auto name_size = load<std::uint32_t>(segment, at);
        const auto desc_size = load<std::uint32_t>(segment, at + 4);
        const auto type = load<std::uint32_t>(segment, at + 8);
        const std::uint64_t name_at = at + 12;
        const std::uint64_t desc_at = name_at + align_up(name_size, alignment);
        const std::uint64_t next = desc_at + align_up(desc_size, alignment);
        // Sizes are 32 bits, so these sums cannot wrap; a note that claims more than
        // its segment holds is corrupt (padding of the last one may be missing).
        if (desc_at > segment.size() || desc_size > segment.size() - desc_at) {
            throw fail(fmt::format(
                "has a corrupt ELF note at offset {:#x} of segment {} ({}-byte name, {}-byte "
                "descriptor, in a segment of {} bytes)",
                segment_offset + at, index, name_size, desc_size, segment.size()));
        }
        std::string name(reinterpret_cast<const char*>(segment.data() + name_at), name_size);
        if (!name.empty() && name.back() == '\0') {
            name.pop_back();
        }
        image.notes.push_back({std::move(name), type, segment_offset + desc_at, desc_size});
        at = std::min<std::uint64_t>(next, segment.size());
    }
}

template <typename Ehdr, typename Phdr>
ElfImage read_elf_class(std::span<const std::uint8_t> file, const ElfFail& fail) {
    if (file.size() < sizeof(Ehdr)) {
        throw fail(fmt::format("is truncated: {} bytes, less than its ELF header", file.size()));
    }
    const auto ehdr = load<Ehdr>(file, 0);
    if (ehdr.e_ident[EI_DATA] != ELFDATA2LSB) {
        throw fail("is a big-endian ELF file; give an x86 kernel");
    }
    ElfImage image;
    image.is64 = ehdr.e_ident[EI_CLASS] == ELFCLASS64;
    const auto machine = image.is64 ? EM_X86_64 : EM_386;
    if (ehdr.e_machine != machine) {
        throw fail(fmt::format("is an ELF file for machine {}, not {}; give an x86 kernel",
                               ehdr.e_machine, image.is64 ? "x86-64 (62)" : "i386 (3)"));
    }
    if (ehdr.e_type != ET_EXEC) {
        throw fail(
            fmt::format("is an ELF file of type {}, not an executable (ET_EXEC); link it "
                        "at fixed addresses",
                        ehdr.e_type));
    }
    if (ehdr.e_phentsize != sizeof(Phdr) || ehdr.e_phnum == 0 || ehdr.e_phoff > file.size() ||
        std::uint64_t{ehdr.e_phnum} * sizeof(Phdr) > file.size() - ehdr.e_phoff) {
        throw fail(
            fmt::format("has a corrupt ELF program header table ({} entries of {} bytes "
                        "at offset {}, in a file of {} bytes)",
                        ehdr.e_phnum, ehdr.e_phentsize, ehdr.e_phoff, file.size()));
    }
    image.entry = ehdr.e_entry;
    for (std::size_t i = 0; i < ehdr.e_phnum; ++i) {
        const auto phdr = load<Phdr>(file, ehdr.e_phoff + i * sizeof(Phdr));
        if (phdr.p_type == PT_NOTE) {
            if (phdr.p_offset > file.size() || phdr.p_filesz > file.size() - phdr.p_offset) {
                throw fail(fmt::format(
                    "has a corrupt ELF note segment {} ({} bytes at offset {}, in a file of {} "
                    "bytes)",
                    i, phdr.p_filesz, phdr.p_offset, file.size()));
            }
            // Notes are 4-byte aligned; some ELF64 producers align them to 8 and say so.
            read_notes(file.subspan(phdr.p_offset, phdr.p_filesz), phdr.p_offset,
                       phdr.p_align == 8 ? 8 : 4, i, image, fail);
            continue;
        }
        if (phdr.p_type != PT_LOAD || phdr.p_memsz == 0) {
            continue;
        }
        if (phdr.p_filesz > phdr.p_memsz || phdr.p_offset > file.size() ||
            phdr.p_filesz > file.size() - phdr.p_offset) {
            throw fail(
                fmt::format("has a corrupt ELF segment {} ({} bytes at offset {} for {} "
                            "bytes of memory, in a file of {} bytes)",
                            i, phdr.p_filesz, phdr.p_offset, phdr.p_memsz, file.size()));
        }
        image.loads.push_back(
            {phdr.p_offset, phdr.p_filesz, phdr.p_paddr, phdr.p_memsz, phdr.p_vaddr});
    }
    if (image.loads.empty()) {
        throw fail("has no loadable ELF segment (PT_LOAD)");
    }
    return image;
}

}  // namespace

bool is_elf(std::span<const std::uint8_t> file) {
    return file.size() >= EI_NIDENT && std::memcmp(file.data(), ELFMAG, SELFMAG) == 0;
}

ElfImage read_elf(std::span<const std::uint8_t> file, const ElfFail& fail) {
    if (!is_elf(file)) {
        throw fail("is not an ELF file (no \\x7fELF magic at its start)");
    }
    if (file[EI_CLASS] == ELFCLASS32) {
        return read_elf_class<Elf32_Ehdr, Elf32_Phdr>(file, fail);
    }
    if (file[EI_CLASS] == ELFCLASS64) {
        return read_elf_class<Elf64_Ehdr, Elf64_Phdr>(file, fail);
    }
    throw fail(fmt::format("is an ELF file of unknown class {}; give a 32- or 64-bit x86 kernel",
                           file[EI_CLASS]));
}

std::optional<ElfNote> find_note(const ElfImage& image, std::string_view name, std::uint32_t type) {
    for (const auto& note : image.notes) {
        if (note.type == type && note.name == name) {
            return note;
        }
    }
    return std::nullopt;
}

}  // namespace berth::boot
