#include "vmm/memory/resident_pages.hpp"

#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth::memory {

namespace {

constexpr std::uint64_t page_present = 1ULL << 63;
constexpr std::uint64_t page_swapped = 1ULL << 62;
constexpr std::uint64_t page_file_or_shared = 1ULL << 61;

// One read of pagemap covers this many pages (64 KiB of entries, 32 MiB of memory).
constexpr std::size_t entries_per_read = 8192;

}  // namespace

std::vector<PageRun> page_runs(std::span<const std::uint64_t> entries) {
    std::vector<PageRun> runs;
    for (std::uint64_t page = 0; page < entries.size(); ++page) {
        const std::uint64_t entry = entries[page];
        if ((entry & (page_present | page_swapped)) == 0) {
            continue;
        }
        // A swapped page is an anonymous one (file pages are dropped, not swapped).
        const PageUse use = (entry & page_present) != 0 && (entry & page_file_or_shared) != 0
                                ? PageUse::read
                                : PageUse::written;
        if (!runs.empty() && runs.back().use == use &&
            runs.back().first_page + runs.back().pages == page) {
            ++runs.back().pages;
        } else {
            runs.push_back({page, 1, use});
        }
    }
    return runs;
}

std::vector<PageRun> resident_page_runs(int pagemap_fd, const std::uint8_t* data,
                                        std::size_t size) {
    const std::uint64_t first = reinterpret_cast<std::uintptr_t>(data) / resident_page_size;
    const std::uint64_t count = size / resident_page_size;
    std::vector<std::uint64_t> entries(count);
    const auto offset = static_cast<off_t>(first * sizeof(std::uint64_t));
    if (::lseek(pagemap_fd, offset, SEEK_SET) != offset) {
        throw_errno("cannot read /proc/self/pagemap: lseek", errno);
    }
    std::size_t done = 0;
    while (done < count) {
        const std::size_t want = std::min(entries_per_read, count - done) * sizeof(std::uint64_t);
        const ssize_t got = ::read(pagemap_fd, entries.data() + done, want);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            throw_errno("cannot read /proc/self/pagemap", errno);
        }
        if (got == 0 || got % sizeof(std::uint64_t) != 0) {
            throw Error(
                fmt::format("cannot read /proc/self/pagemap: a short read of {} bytes", got));
        }
        done += static_cast<std::size_t>(got) / sizeof(std::uint64_t);
    }
    return page_runs(entries);
}

}  // namespace berth::memory
