#include "devices/virtio/file_mapping.hpp"

#include <sys/mman.h>
#include <sys/stat.h>

#include <limits>
#include <utility>

namespace berth::devices::virtio {

std::optional<FileMapping> FileMapping::map_read_only(int fd, std::uint64_t size) {
    struct stat info {};
    if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) || size == 0 ||
        size > std::numeric_limits<std::size_t>::max()) {
        return std::nullopt;
    }
    const auto length = static_cast<std::size_t>(size);
    void* data = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0);
    if (data == MAP_FAILED) {
        return std::nullopt;
    }
    return FileMapping(static_cast<const std::uint8_t*>(data), length);
}

FileMapping::~FileMapping() {
    unmap();
}

FileMapping::FileMapping(FileMapping&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

FileMapping& FileMapping::operator=(FileMapping&& other) noexcept {
    if (this != &other) {
        unmap();
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

void FileMapping::unmap() {
    if (data_ != nullptr) {
        ::munmap(const_cast<std::uint8_t*>(data_), size_);
        data_ = nullptr;
    }
}

}  // namespace berth::devices::virtio
