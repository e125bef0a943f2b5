#pragma once
// Pieces of a request's guest buffers: a backend that splits a request (a qcow2 disk,
// cluster by cluster) hands each part of the disk its part of the buffers.

#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <vector>

namespace berth::devices::block {

// The iovecs covering `length` bytes of `all` from `skip` bytes in.
std::vector<iovec> iovec_slice(std::span<const iovec> all, std::uint64_t skip,
                               std::uint64_t length);

std::uint64_t iovec_bytes(std::span<const iovec> all);

// Copies between guest buffers and a host buffer, `bytes.size()` of them, `skip` in.
void copy_to_iovecs(std::span<const iovec> to, std::uint64_t skip,
                    std::span<const std::uint8_t> bytes);
void copy_from_iovecs(std::span<const iovec> from, std::uint64_t skip,
                      std::span<std::uint8_t> bytes);
void zero_iovecs(std::span<const iovec> to, std::uint64_t skip, std::uint64_t length);

// Moves all of `iovecs` between the file `fd` at `offset` and memory; false on an error
// or at end of file (the file is shorter than the caller's bounds said).
enum class Direction { read, write };
bool transfer_all(int fd, std::vector<iovec> iovecs, std::uint64_t offset, Direction direction);

// pread/pwrite of all of `bytes`; false on an error or at end of file.
bool pread_all(int fd, std::span<std::uint8_t> bytes, std::uint64_t offset);
bool pwrite_all(int fd, std::span<const std::uint8_t> bytes, std::uint64_t offset);

}  // namespace berth::devices::block
