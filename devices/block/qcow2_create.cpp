#include "devices/block/qcow2_create.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "devices/block/iovec_range.hpp"
#include "devices/block/qcow2_format.hpp"
#include "vmm/common/error.hpp"

namespace berth::devices::block::qcow2 {

namespace {

constexpr std::uint32_t cluster_bits = 16;
constexpr std::uint64_t cluster = 1ULL << cluster_bits;
constexpr std::uint64_t l2_span = cluster * (cluster / 8);  // guest bytes per L1 entry
constexpr std::uint32_t backing_format_extension = 0xe2792aca;

void put(int fd, const std::vector<std::uint8_t>& bytes, std::uint64_t offset) {
    if (!pwrite_all(fd, bytes, offset)) {
        throw_errno("cannot write the image", errno);
    }
}

}  // namespace

std::uint64_t max_new_image_size() {
    return max_l1_bytes / 8 * l2_span;
}

void write_new_image(int fd, const NewImage& image) {
    // Clusters: 0 the header, 1 the refcount table, 2 its first refcount block, then the
    // L1 table. Every one of them is counted in block 0 (which covers 2 GiB of file).
    const std::uint64_t l1_entries =
        std::max<std::uint64_t>(1, (image.virtual_size + l2_span - 1) / l2_span);
    const std::uint64_t l1_clusters = (l1_entries * 8 + cluster - 1) / cluster;
    const std::uint64_t clusters = 3 + l1_clusters;

    std::vector<std::uint8_t> header(cluster);
    std::uint8_t* h = header.data();
    std::memcpy(h, magic.data(), magic.size());
    store_be32(h + 4, 3);
    store_be32(h + 20, cluster_bits);
    store_be64(h + 24, image.virtual_size);
    store_be32(h + 36, static_cast<std::uint32_t>(l1_entries));
    store_be64(h + 40, 3 * cluster);
    store_be64(h + 48, 1 * cluster);
    store_be32(h + 56, 1);
    store_be32(h + 96, 4);  // refcount_order: 16-bit refcounts
    store_be32(h + 100, v3_header_bytes);
    std::uint64_t at = v3_header_bytes;
    if (!image.backing_name.empty()) {
        store_be32(h + at, backing_format_extension);
        store_be32(h + at + 4, static_cast<std::uint32_t>(image.backing_format.size()));
        std::memcpy(h + at + 8, image.backing_format.data(), image.backing_format.size());
        at += 8 + ((image.backing_format.size() + 7) & ~std::size_t{7});
    }
    at += 8;  // the end-of-extensions marker (zeros)
    if (!image.backing_name.empty()) {
        if (image.backing_name.size() > max_backing_name) {
            throw bad_input("the backing file's name is longer than 1023 bytes");
        }
        store_be64(h + 8, at);
        store_be32(h + 16, static_cast<std::uint32_t>(image.backing_name.size()));
        std::memcpy(h + at, image.backing_name.data(), image.backing_name.size());
    }

    std::vector<std::uint8_t> refcount_table(cluster);
    store_be64(refcount_table.data(), 2 * cluster);
    std::vector<std::uint8_t> refcount_block(cluster);
    for (std::uint64_t i = 0; i < clusters; ++i) {
        refcount_block[i * 2 + 1] = 1;  // big-endian 16-bit 1
    }
    // The L1 table is zeros: ftruncate makes it.
    if (::ftruncate(fd, static_cast<off_t>(clusters * cluster)) != 0) {
        throw_errno("cannot size the image", errno);
    }
    put(fd, refcount_block, 2 * cluster);
    put(fd, refcount_table, 1 * cluster);
    put(fd, header, 0);
}

}  // namespace berth::devices::block::qcow2
