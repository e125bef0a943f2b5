#pragma once
// An anonymous host memory mapping that backs a piece of guest RAM; unmapped when
// its owner goes away.

#include <cstddef>
#include <cstdint>

namespace berth::memory {

enum class PageSize { normal, huge };

class Mapping {
public:
    // Maps `size` bytes of zeroed, private-to-berth memory. Throws when the host
    // cannot provide it (with huge pages: when none are reserved).
    Mapping(std::size_t size, PageSize pages);
    // Maps `size` bytes of the file open on `fd` from `offset` copy-on-write
    // (MAP_PRIVATE): pages are read from the file when first touched, and writes stay
    // in memory, never reaching the file (a snapshot's memory, restored).
    Mapping(int fd, std::uint64_t offset, std::size_t size);
    ~Mapping();
    Mapping(Mapping&& other) noexcept;
    Mapping& operator=(Mapping&& other) noexcept;
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;

    std::uint8_t* data() const { return data_; }
    std::size_t size() const { return size_; }

private:
    std::uint8_t* data_;
    std::size_t size_;
};

}  // namespace berth::memory
