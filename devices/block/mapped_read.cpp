#include "devices/block/mapped_read.hpp"

#include <vector>

#include "devices/virtio/sigbus_guard.hpp"

namespace berth::devices::block {

bool read_from_mapping(const virtio::FileMapping& mapping, std::span<const iovec> to,
                       std::uint64_t offset) {
    std::vector<virtio::CopyPiece> pieces;
    pieces.reserve(to.size());
    const std::uint8_t* from = mapping.bytes().data() + offset;
    for (const iovec& piece : to) {
        pieces.push_back({static_cast<std::uint8_t*>(piece.iov_base), from, piece.iov_len});
        from += piece.iov_len;
    }
    // bus_error: the file is shorter than the mapping now (truncated by someone else).
    return virtio::copy_guarding_sigbus(pieces) == virtio::CopyResult::copied;
}

}  // namespace berth::devices::block
