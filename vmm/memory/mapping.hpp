#pragma once
// An anonymous host memory mapping that backs a piece of guest RAM; unmapped when
// its owner goes away.

#include <cstddef>
#include <cstdint>

namespace berth::memory {

enum class PageSize { normal, huge };

// How a snapshot's memory file becomes guest RAM (docs/snapshots.md, --restore-memory).
enum class FileLoad {
    // Mapped copy-on-write: each page is read when first touched. Little resident
    // memory, but KVM maps the guest's pages 4 KiB at a time, one exit per page.
    lazy,
    // Copied whole into anonymous memory advised for transparent huge pages before the
    // guest runs: KVM maps 2 MiB per exit, but everything the snapshot holds is resident.
    eager,
};

class Mapping {
public:
    // Maps `size` bytes of zeroed, private-to-berth memory. Throws when the host
    // cannot provide it (with huge pages: when none are reserved).
    Mapping(std::size_t size, PageSize pages);
    // Maps `size` bytes of the file open on `fd` from `offset` copy-on-write
    // (MAP_PRIVATE): pages are read from the file when first touched, and writes stay
    // in memory, never reaching the file (a snapshot's memory, restored).
    Mapping(int fd, std::uint64_t offset, std::size_t size);
    // FileLoad::eager: `size` bytes of the file open on `fd` from `offset` copied into
    // a new anonymous mapping (as the constructor above makes for normal pages); the
    // file's holes are skipped, so they cost nothing and stay zero.
    static Mapping copied_from_file(int fd, std::uint64_t offset, std::size_t size);
    ~Mapping();
    Mapping(Mapping&& other) noexcept;
    Mapping& operator=(Mapping&& other) noexcept;
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;

    // Writes [offset, +length) (page aligned) in without changing a byte: each page of a
    // copy-on-write file mapping gets its private copy now, mapped writable
    // (MADV_POPULATE_WRITE, Linux 5.14+), so a guest write to it later is not a fault.
    // Throws when the host cannot (out of memory, or a kernel without it).
    void populate_for_write(std::size_t offset, std::size_t length) const;

    std::uint8_t* data() const { return data_; }
    std::size_t size() const { return size_; }

private:
    std::uint8_t* data_;
    std::size_t size_;
};

}  // namespace berth::memory
