#include "memory/mapping.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <utility>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/size.hpp"

namespace berth::memory {

Mapping::Mapping(std::size_t size, PageSize pages) : size_(size) {
    // MAP_NORESERVE: guest RAM is touched lazily, so a 4 GiB guest that uses 100 MiB
    // costs 100 MiB, as with every other VMM.
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    if (pages == PageSize::huge) {
        flags |= MAP_HUGETLB;
    }
    void* mapping = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (mapping == MAP_FAILED) {
        const int err = errno;
        if (pages == PageSize::huge) {
            throw Error(fmt::format("cannot map {} of guest RAM on huge pages: {}; reserve them "
                                    "first (echo N > /proc/sys/vm/nr_hugepages) or drop "
                                    "--hugepages",
                                    format_size(size), errno_message("mmap", err)));
        }
        throw Error(fmt::format("cannot map {} of guest RAM: {}; use a smaller --memory",
                                format_size(size), errno_message("mmap", err)));
    }
    data_ = static_cast<std::uint8_t*>(mapping);
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
