#pragma once
// Decompressing one qcow2 compressed cluster: deflate (raw, no zlib header) or zstd.
// The stored bytes may run past the compressed data (qcow2 keeps only a sector count),
// so decompression stops at the stream's end; it succeeds only when it fills the whole
// cluster, as the format requires.

#include <cstdint>
#include <span>

#include "devices/block/qcow2_format.hpp"

namespace berth::devices::block::qcow2 {

bool decompress_cluster(Compression type, std::span<const std::uint8_t> stored,
                        std::span<std::uint8_t> cluster);

}  // namespace berth::devices::block::qcow2
