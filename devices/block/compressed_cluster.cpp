#include "devices/block/compressed_cluster.hpp"

#include <zlib.h>
#include <zstd.h>

namespace berth::devices::block::qcow2 {

namespace {

bool inflate_cluster(std::span<const std::uint8_t> stored, std::span<std::uint8_t> cluster) {
    z_stream stream{};
    // -15: raw deflate with any window up to 32 KiB (qemu writes 4 KiB windows).
    if (inflateInit2(&stream, -15) != Z_OK) {
        return false;
    }
    stream.next_in = const_cast<std::uint8_t*>(stored.data());
    stream.avail_in = static_cast<uInt>(stored.size());
    stream.next_out = cluster.data();
    stream.avail_out = static_cast<uInt>(cluster.size());
    const int result = inflate(&stream, Z_FINISH);
    const bool full = stream.avail_out == 0;
    inflateEnd(&stream);
    // Z_BUF_ERROR with a full output: the stream goes on past the cluster, which only
    // its end marker can do.
    return full && (result == Z_STREAM_END || result == Z_BUF_ERROR);
}

bool unzstd_cluster(std::span<const std::uint8_t> stored, std::span<std::uint8_t> cluster) {
    ZSTD_DCtx* context = ZSTD_createDCtx();
    if (context == nullptr) {
        return false;
    }
    ZSTD_inBuffer in{stored.data(), stored.size(), 0};
    ZSTD_outBuffer out{cluster.data(), cluster.size(), 0};
    bool ok = false;
    // Stream decoding stops at the end of the frame; the bytes after it are padding.
    while (true) {
        const std::size_t result = ZSTD_decompressStream(context, &out, &in);
        if (ZSTD_isError(result)) {
            break;
        }
        if (result == 0 || out.pos == out.size) {
            ok = out.pos == out.size;
            break;
        }
        if (in.pos == in.size) {
            break;  // the stored bytes end inside the frame
        }
    }
    ZSTD_freeDCtx(context);
    return ok;
}

}  // namespace

bool decompress_cluster(Compression type, std::span<const std::uint8_t> stored,
                        std::span<std::uint8_t> cluster) {
    return type == Compression::zstd ? unzstd_cluster(stored, cluster)
                                     : inflate_cluster(stored, cluster);
}

}  // namespace berth::devices::block::qcow2
