#pragma once
// A qcow2 image (qemu docs/interop/qcow2.rst) as a disk: versions 2 and 3, normal, zero
// and compressed clusters (deflate, zstd), a read-only backing chain of qcow2 or raw
// images, and writes that allocate clusters, L2 tables and refcount blocks.
//
// Every offset read from the image is checked before use: the header's tables at open
// (qcow2_format.cpp), L1 and refcount table entries at open, L2 entries when a request
// meets them; a bad one fails the request (IOERR), never reads or writes outside the
// file's own clusters. Metadata is written through at once (no dirty cache), so flush
// is one fdatasync.
//
// Data clusters are read by copying out of a shared mapping of the file as it was at
// open (devices/virtio/file_mapping.hpp says why: the rig's emulated CPU copies
// preadv's bytes one at a time); clusters allocated since lie beyond it and are read
// with preadv. Metadata is always read with pread.
//
// Ordering, so that a kill -9 at any moment leaves an image whose worst fault is a
// leaked cluster: a new cluster is taken from the end of the file, its data written
// first, then its refcount (a new refcount block is written whole before the refcount
// table points at it), then, after one fdatasync per request (so that a power cut
// cannot persist a table entry before the refcount it relies on), the L2 entry (a new
// L2 table is written whole before the L1 entry points at it); a cluster given up is
// only released (refcount decreased) after no table points at it. Freed clusters are
// not reused: the file grows, and qemu-img check stays clean.
//
// Not done: growing a full refcount table (a write that would need it fails with
// IOERR: with 64 KiB clusters one table cluster covers 16 TiB of file), writing images
// with internal snapshots (refused at open), external data files, extended L2 entries,
// encryption (refused by name at open).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "devices/block/backend.hpp"
#include "devices/block/qcow2_format.hpp"
#include "devices/virtio/file_mapping.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::devices::block {

// Images in one backing chain at most (the top image included).
inline constexpr std::size_t max_backing_chain = 16;

class Qcow2Disk final : public BlockBackend {
public:
    // Opens the image the user named as qcow2 and its backing chain (read-only).
    // Bad input → Error with status 2, naming the structure at fault.
    static std::unique_ptr<Qcow2Disk> open(const std::filesystem::path& path, Access access);

    std::uint64_t size() const override { return header_.virtual_size; }
    Access access() const override { return access_; }
    std::string_view format() const override { return "qcow2"; }
    const std::filesystem::path& path() const override { return path_; }
    bool read(std::span<const iovec> to, std::uint64_t offset) override;
    bool write(std::span<const iovec> from, std::uint64_t offset) override;
    bool flush() override;
    bool write_zeroes(std::uint64_t offset, std::uint64_t length) override;
    bool discard(std::uint64_t offset, std::uint64_t length) override;
    bool reads_from_mapping() const override { return mapping_.has_value(); }

    // For `berth image info`.
    const qcow2::Header& header() const { return header_; }
    const BlockBackend* backing() const { return backing_.get(); }
    // Guest bytes whose clusters this image holds (not its backing files'); nothing when
    // an L2 table cannot be read.
    std::optional<std::uint64_t> allocated_bytes();

private:
    enum class Kind { unallocated, zero, normal, compressed };
    struct Cluster {
        Kind kind = Kind::unallocated;
        std::uint64_t entry = 0;   // the L2 entry as stored
        std::uint64_t host = 0;    // normal, zero (preallocated) or compressed data
        std::uint64_t stored = 0;  // compressed bytes readable at `host`
        std::uint64_t freed_first = 0, freed_bytes = 0;  // what giving it up releases
    };
    enum class ZeroMode { write_zeroes, discard };

    Qcow2Disk() = default;
    static std::unique_ptr<Qcow2Disk> open_in_chain(const std::filesystem::path& path,
                                                    Access access,
                                                    std::vector<FileIdentity>& chain);
    void load_tables();
    void open_backing(std::vector<FileIdentity>& chain);

    bool lookup(std::uint64_t guest_cluster, Cluster& cluster);
    const std::vector<std::uint64_t>* l2_table(std::uint64_t offset);
    bool read_cluster(std::uint64_t guest_cluster, const Cluster& cluster, std::uint64_t skip,
                      std::span<const iovec> to);
    bool decompressed(const Cluster& cluster, const std::uint8_t*& bytes);
    bool set_l2_entry(std::uint64_t guest_cluster, std::uint64_t entry);
    void release(const Cluster& cluster);
    bool overlaps_metadata(std::uint64_t host) const;
    bool zero_range(std::uint64_t offset, std::uint64_t length, ZeroMode mode);

    std::uint64_t reserve_cluster();
    bool refcount(std::uint64_t host, std::uint64_t& value);
    bool set_refcount(std::uint64_t host, std::uint64_t value);
    std::vector<std::uint8_t>* refcount_block(std::uint64_t offset);
    void note_written(std::uint64_t end) { file_bytes_ = std::max(file_bytes_, end); }

    std::filesystem::path path_;
    Access access_ = Access::read_only;
    UniqueFd fd_;
    std::optional<virtio::FileMapping> mapping_;  // the file's first bytes, as at open
    InputClaim claim_;
    qcow2::Header header_;
    std::uint64_t cluster_ = 0;      // bytes
    std::uint64_t file_bytes_ = 0;   // the file's size as berth knows it
    std::uint64_t next_free_ = 0;    // where the next cluster is taken from
    std::vector<std::uint64_t> l1_;  // host byte order, as stored (flags included)
    std::vector<std::uint64_t> refcount_table_;
    std::unique_ptr<BlockBackend> backing_;

    // Tables read on demand; written through, so dropping them loses nothing.
    std::unordered_map<std::uint64_t, std::vector<std::uint64_t>> l2_cache_;
    std::unordered_map<std::uint64_t, std::vector<std::uint8_t>> refcount_cache_;
    std::size_t cache_tables_ = 0;  // per cache
    // The last compressed cluster read, by its L2 entry (sequential reads of one
    // cluster in pieces decompress it once).
    std::uint64_t decompressed_entry_ = 0;
    std::vector<std::uint8_t> decompressed_;
};

}  // namespace berth::devices::block
