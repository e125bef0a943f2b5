#include "devices/block/iovec_range.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace berth::devices::block {

std::vector<iovec> iovec_slice(std::span<const iovec> all, std::uint64_t skip,
                               std::uint64_t length) {
    std::vector<iovec> slice;
    for (const iovec& piece : all) {
        if (length == 0) {
            break;
        }
        if (skip >= piece.iov_len) {
            skip -= piece.iov_len;
            continue;
        }
        const std::uint64_t count = std::min<std::uint64_t>(piece.iov_len - skip, length);
        slice.push_back({static_cast<std::uint8_t*>(piece.iov_base) + skip, count});
        length -= count;
        skip = 0;
    }
    return slice;
}

std::uint64_t iovec_bytes(std::span<const iovec> all) {
    std::uint64_t total = 0;
    for (const iovec& piece : all) {
        total += piece.iov_len;
    }
    return total;
}

void copy_to_iovecs(std::span<const iovec> to, std::uint64_t skip,
                    std::span<const std::uint8_t> bytes) {
    std::size_t done = 0;
    for (const iovec& piece : iovec_slice(to, skip, bytes.size())) {
        std::memcpy(piece.iov_base, bytes.data() + done, piece.iov_len);
        done += piece.iov_len;
    }
}

void copy_from_iovecs(std::span<const iovec> from, std::uint64_t skip,
                      std::span<std::uint8_t> bytes) {
    std::size_t done = 0;
    for (const iovec& piece : iovec_slice(from, skip, bytes.size())) {
        std::memcpy(bytes.data() + done, piece.iov_base, piece.iov_len);
        done += piece.iov_len;
    }
}

void zero_iovecs(std::span<const iovec> to, std::uint64_t skip, std::uint64_t length) {
    for (const iovec& piece : iovec_slice(to, skip, length)) {
        std::memset(piece.iov_base, 0, piece.iov_len);
    }
}

bool transfer_all(int fd, std::vector<iovec> iovecs, std::uint64_t offset, Direction direction) {
    // An empty piece would read as end of file below.
    std::erase_if(iovecs, [](const iovec& piece) { return piece.iov_len == 0; });
    std::size_t first = 0;
    while (first < iovecs.size()) {
        const int count = static_cast<int>(std::min<std::size_t>(iovecs.size() - first, IOV_MAX));
        const ssize_t done = direction == Direction::read
                                 ? ::preadv(fd, &iovecs[first], count, static_cast<off_t>(offset))
                                 : ::pwritev(fd, &iovecs[first], count, static_cast<off_t>(offset));
        if (done < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        if (done == 0) {
            return false;  // end of file inside the disk: the image shrank under us
        }
        offset += static_cast<std::uint64_t>(done);
        std::size_t left = static_cast<std::size_t>(done);
        while (first < iovecs.size() && left >= iovecs[first].iov_len) {
            left -= iovecs[first].iov_len;
            ++first;
        }
        if (left > 0) {
            iovecs[first].iov_base = static_cast<std::uint8_t*>(iovecs[first].iov_base) + left;
            iovecs[first].iov_len -= left;
        }
    }
    return true;
}

bool pread_all(int fd, std::span<std::uint8_t> bytes, std::uint64_t offset) {
    return transfer_all(fd, {{bytes.data(), bytes.size()}}, offset, Direction::read);
}

bool pwrite_all(int fd, std::span<const std::uint8_t> bytes, std::uint64_t offset) {
    return transfer_all(fd, {{const_cast<std::uint8_t*>(bytes.data()), bytes.size()}}, offset,
                        Direction::write);
}

}  // namespace berth::devices::block
