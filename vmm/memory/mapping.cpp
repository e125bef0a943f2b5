#include "vmm/memory/mapping.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/size.hpp"

namespace berth::memory {

namespace {

constexpr std::size_t huge_page_size = 2ULL << 20;

// Given `size` + 2 MiB mapped at `start`, unmaps the unaligned head and the tail and
// returns the 2 MiB-aligned start of `size` bytes, advised for huge pages.
void* trim_to_huge_page_alignment(std::uint8_t* start, std::size_t size) {
    const auto address = reinterpret_cast<std::uintptr_t>(start);
    const std::uintptr_t aligned = (address + huge_page_size - 1) & ~(huge_page_size - 1);
    const std::size_t head = aligned - address;
    const std::size_t tail = huge_page_size - head;
    if (head != 0) {
        ::munmap(start, head);
    }
    if (tail != 0) {
        ::munmap(reinterpret_cast<void*>(aligned + size), tail);
    }
    // Advice only: a host without THP simply keeps 4 KiB pages.
    ::madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
    return reinterpret_cast<void*>(aligned);
}

}  // namespace

Mapping::Mapping(std::size_t size, PageSize pages) : size_(size) {
    // MAP_NORESERVE: guest RAM is touched lazily, so a 4 GiB guest that uses 100 MiB
    // costs 100 MiB, as with every other VMM. Not for huge pages: there the kernel
    // reserves the pool's pages at mmap time, so a short pool fails here, with a
    // message, instead of killing berth with SIGBUS when the guest first touches a page.
    int flags = MAP_PRIVATE | MAP_ANONYMOUS;
    if (pages == PageSize::huge) {
        flags |= MAP_HUGETLB;
    } else {
        flags |= MAP_NORESERVE;
    }
    // Normal pages: reserve 2 MiB more so the start can be aligned to 2 MiB, which lets
    // the kernel back guest RAM with transparent huge pages. Each 4 KiB page touched
    // for the first time is one EPT fault: with 4 KiB pages ~29,000 of a Linux boot's
    // ~36,600 exits were such faults (tests/bench/boot.sh, KVM's pf_fixed counter).
    const bool align_for_huge_pages = pages == PageSize::normal && size >= huge_page_size;
    const std::size_t reserve = align_for_huge_pages ? size + huge_page_size : size;
    void* mapping = ::mmap(nullptr, reserve, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (mapping != MAP_FAILED && align_for_huge_pages) {
        mapping = trim_to_huge_page_alignment(static_cast<std::uint8_t*>(mapping), size);
    }
    if (mapping == MAP_FAILED) {
        const int err = errno;
        if (pages == PageSize::huge) {
            throw bad_input(fmt::format(
                "cannot map {} of guest RAM on 2 MiB huge pages ({}): it needs {} free "
                "ones; reserve them (echo N > /proc/sys/vm/nr_hugepages) or use normal pages",
                format_size(size), errno_message("mmap", err), size / huge_page_size));
        }
        throw Error(fmt::format("cannot map {} of guest RAM: {}; give the guest less memory",
                                format_size(size), errno_message("mmap", err)));
    }
    data_ = static_cast<std::uint8_t*>(mapping);
}

Mapping::Mapping(int fd, std::uint64_t offset, std::size_t size) : size_(size) {
    void* mapping = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd,
                           static_cast<off_t>(offset));
    if (mapping == MAP_FAILED) {
        throw Error(fmt::format("cannot map {} of guest RAM from its file: {}", format_size(size),
                                errno_message("mmap", errno)));
    }
    data_ = static_cast<std::uint8_t*>(mapping);
}

Mapping Mapping::copied_from_file(int fd, std::uint64_t offset, std::size_t size) {
    Mapping mapping(size, PageSize::normal);
    const auto end = static_cast<off_t>(offset + size);
    auto position = static_cast<off_t>(offset);
    while (position < end) {
        // Only the file's data: SEEK_DATA/SEEK_HOLE skip the zero pages the snapshot left
        // as holes (a file system without them reports the whole file as data).
        const off_t data = ::lseek(fd, position, SEEK_DATA);
        if (data < 0 && errno == ENXIO) {
            break;  // nothing but holes up to the end of the file
        }
        if (data < 0) {
            throw_errno("cannot read guest RAM from its file: lseek", errno);
        }
        if (data >= end) {
            break;
        }
        off_t hole = ::lseek(fd, data, SEEK_HOLE);
        if (hole < 0) {
            throw_errno("cannot read guest RAM from its file: lseek", errno);
        }
        hole = std::min(hole, end);
        for (off_t at = data; at < hole;) {
            const ssize_t done = ::pread(fd, mapping.data_ + (at - static_cast<off_t>(offset)),
                                         static_cast<std::size_t>(hole - at), at);
            if (done < 0 && errno == EINTR) {
                continue;
            }
            if (done < 0) {
                throw_errno("cannot read guest RAM from its file", errno);
            }
            if (done == 0) {
                throw Error("cannot read guest RAM from its file: it ends early");
            }
            at += done;
        }
        position = hole;
    }
    return mapping;
}

void Mapping::populate_for_write(std::size_t offset, std::size_t length) const {
    if (offset > size_ || length > size_ - offset) {
        throw Error(fmt::format("cannot populate {:#x} bytes at {:#x} of a mapping of {:#x}",
                                length, offset, size_));
    }
    while (::madvise(data_ + offset, length, MADV_POPULATE_WRITE) != 0) {
        if (errno != EINTR) {
            throw_errno(fmt::format("cannot populate {} of guest RAM: madvise(MADV_POPULATE_WRITE)",
                                    format_size(length)),
                        errno);
        }
    }
}

Mapping::~Mapping() {
    if (data_ != nullptr) {
        ::munmap(data_, size_);
    }
}

Mapping::Mapping(Mapping&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(other.size_) {}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
    // Swapping hands our old mapping to `other`, which unmaps it when it goes away.
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    return *this;
}

}  // namespace berth::memory
