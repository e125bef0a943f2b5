#pragma once
// Which pages of a mapping are in memory now, and whether this process wrote them,
// read from /proc/self/pagemap: the working set a snapshot restore records
// (vmm/machine/working_set.hpp, docs/snapshots.md). In a copy-on-write file mapping a
// page only read is the file's own page (pagemap calls it a file page); a page
// written is a private anonymous copy.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace berth::memory {

inline constexpr std::size_t resident_page_size = 4096;

enum class PageUse : std::uint8_t {
    read,     // in memory, still the file's page
    written,  // copied on write (or anonymous memory touched)
};

// Consecutive pages of one use, counted from the start of the mapping.
struct PageRun {
    std::uint64_t first_page;
    std::uint64_t pages;
    PageUse use;

    bool operator==(const PageRun&) const = default;
};

// The runs of present (or swapped) pages in `entries`, one 64-bit pagemap entry per
// page (Documentation/admin-guide/mm/pagemap.rst), pages absent skipped.
std::vector<PageRun> page_runs(std::span<const std::uint64_t> entries);

// The runs of [data, +size) (page aligned), read through `pagemap_fd`, a descriptor
// open on /proc/self/pagemap. Uses lseek and read only: the vCPU-less main thread does
// this after the VMM sandbox confined it. Throws on a failed read.
std::vector<PageRun> resident_page_runs(int pagemap_fd, const std::uint8_t* data, std::size_t size);

}  // namespace berth::memory
