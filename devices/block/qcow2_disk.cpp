#include "devices/block/qcow2_disk.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "devices/block/compressed_cluster.hpp"
#include "devices/block/iovec_range.hpp"
#include "devices/block/mapped_read.hpp"
#include "devices/block/raw_disk.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth::devices::block {

namespace {

using namespace qcow2;

constexpr std::string_view damaged = "the image is damaged; check it with qemu-img check";
constexpr std::uint64_t cache_bytes = 4ULL << 20;  // per table cache

std::string hex(std::uint64_t value) {
    return fmt::format("{:#x}", value);
}

std::vector<std::uint64_t> read_table(int fd, std::uint64_t offset, std::uint64_t entries,
                                      std::string_view what) {
    std::vector<std::uint8_t> bytes(entries * 8);
    if (!pread_all(fd, bytes, offset)) {
        throw bad_input(
            fmt::format("{} at offset {}: cannot be read; {}", what, hex(offset), damaged));
    }
    std::vector<std::uint64_t> table(entries);
    for (std::uint64_t i = 0; i < entries; ++i) {
        table[i] = load_be64(bytes.data() + i * 8);
    }
    return table;
}

}  // namespace

std::unique_ptr<Qcow2Disk> Qcow2Disk::open(const std::filesystem::path& path, Access access) {
    std::vector<FileIdentity> chain;
    return open_in_chain(path, access, chain);
}

std::unique_ptr<Qcow2Disk> Qcow2Disk::open_in_chain(const std::filesystem::path& path,
                                                    Access access,
                                                    std::vector<FileIdentity>& chain) {
    InputFile input = open_input_file(
        path,
        access == Access::read_only ? InputUse::attach_read_only : InputUse::attach_read_write,
        InputKinds::regular_file,
        {"give the path of a qcow2 image", "make the file writable, or attach the disk read-only"});
    chain.push_back(input.identity);
    std::vector<std::uint8_t> first(std::min(input.size, max_header_read));
    if (!pread_all(input.fd.get(), first, 0)) {
        throw bad_input("header: cannot be read; the file shrank or is unreadable");
    }
    std::unique_ptr<Qcow2Disk> disk(new Qcow2Disk());
    disk->header_ = parse_header(first, input.size, access);
    disk->path_ = path;
    disk->access_ = access;
    disk->fd_ = std::move(input.fd);
    disk->claim_ = std::move(input.claim);
    disk->cluster_ = disk->header_.cluster_bytes();
    disk->file_bytes_ = input.size;
    disk->next_free_ = (input.size + disk->cluster_ - 1) & ~(disk->cluster_ - 1);
    disk->cache_tables_ = std::max<std::uint64_t>(1, cache_bytes / disk->cluster_);
    disk->mapping_ = virtio::FileMapping::map_read_only(disk->fd_.get(), input.size);
    if (disk->header_.virtual_size < 512) {
        throw bad_input(
            fmt::format("header: virtual size {} is less than one 512-byte sector; "
                        "give a disk image (make one with berth image create)",
                        disk->header_.virtual_size));
    }
    disk->load_tables();
    if (!disk->header_.backing_name.empty()) {
        disk->open_backing(chain);
    }
    if (access == Access::read_write && disk->header_.autoclear != 0) {
        // Autoclear features (bitmaps) describe data as of their last writer; one who
        // does not keep them up to date must clear them before writing.
        std::array<std::uint8_t, 8> zeros{};
        if (!pwrite_all(disk->fd_.get(), zeros, autoclear_features_at)) {
            throw bad_input("header: cannot clear the autoclear features");
        }
        disk->header_.autoclear = 0;
    }
    return disk;
}

void Qcow2Disk::load_tables() {
    l1_ = read_table(fd_.get(), header_.l1_offset, header_.l1_entries, "L1 table");
    for (std::size_t i = 0; i < l1_.size(); ++i) {
        const std::uint64_t offset = l1_[i] & offset_mask;
        if (offset == 0) {
            continue;
        }
        if ((offset & (cluster_ - 1)) != 0 || offset > file_bytes_ ||
            cluster_ > file_bytes_ - offset) {
            throw bad_input(fmt::format(
                "L1 table entry {}: L2 table at offset {}: {}; {}", i, hex(offset),
                (offset & (cluster_ - 1)) != 0 ? "not cluster-aligned" : "outside the file",
                damaged));
        }
    }
    const std::uint64_t entries = std::uint64_t{header_.refcount_table_clusters} * cluster_ / 8;
    refcount_table_ =
        read_table(fd_.get(), header_.refcount_table_offset, entries, "refcount table");
    for (std::size_t i = 0; i < refcount_table_.size(); ++i) {
        const std::uint64_t offset = refcount_table_[i] & ~std::uint64_t{511};
        if (offset == 0) {
            continue;
        }
        if ((offset & (cluster_ - 1)) != 0 || offset > file_bytes_ ||
            cluster_ > file_bytes_ - offset) {
            throw bad_input(fmt::format(
                "refcount table entry {}: refcount block at offset {}: {}; {}", i, hex(offset),
                (offset & (cluster_ - 1)) != 0 ? "not cluster-aligned" : "outside the file",
                damaged));
        }
    }
}

void Qcow2Disk::open_backing(std::vector<FileIdentity>& chain) {
    const std::string& name = header_.backing_name;
    try {
        if (!header_.backing_format) {
            throw bad_input(
                "its format is not recorded in the image, and berth never guesses a format; "
                "record it with qemu-img rebase -u -F raw (or -F qcow2) -b BACKING IMAGE");
        }
        // A relative name is relative to the image's folder, as qemu resolves it.
        std::filesystem::path path = name;
        if (path.is_relative()) {
            path = path_.parent_path() / path;
        }
        if (chain.size() >= max_backing_chain) {
            throw bad_input(
                fmt::format("the backing chain is deeper than {} images; flatten it "
                            "with qemu-img convert",
                            max_backing_chain));
        }
        struct stat info {};
        if (::stat(path.c_str(), &info) == 0 &&
            std::find(chain.begin(), chain.end(), FileIdentity{info.st_dev, info.st_ino}) !=
                chain.end()) {
            throw bad_input(
                "the backing chain loops: it is an image above it in the chain; "
                "fix the image with qemu-img rebase");
        }
        if (*header_.backing_format == "qcow2") {
            backing_ = open_in_chain(path, Access::read_only, chain);
        } else if (*header_.backing_format == "raw") {
            backing_ = std::make_unique<RawDisk>(DiskImage::open(path, Access::read_only));
        } else {
            throw bad_input(
                fmt::format("format {} is not supported; berth reads raw and qcow2 "
                            "backing files",
                            quote(*header_.backing_format)));
        }
    } catch (const Error& e) {
        throw e.with_context(fmt::format("backing file {}", quote(name)));
    }
}

const std::vector<std::uint64_t>* Qcow2Disk::l2_table(std::uint64_t offset) {
    if (auto found = l2_cache_.find(offset); found != l2_cache_.end()) {
        return &found->second;
    }
    if (l2_cache_.size() >= cache_tables_) {
        l2_cache_.clear();  // simple and bounded; sequential I/O refills one table at a time
    }
    std::vector<std::uint8_t> bytes(cluster_);
    if (!pread_all(fd_.get(), bytes, offset)) {
        return nullptr;
    }
    std::vector<std::uint64_t> table(cluster_ / 8);
    for (std::size_t i = 0; i < table.size(); ++i) {
        table[i] = load_be64(bytes.data() + i * 8);
    }
    return &l2_cache_.emplace(offset, std::move(table)).first->second;
}

bool Qcow2Disk::lookup(std::uint64_t guest_cluster, Cluster& cluster) {
    cluster = {};
    const std::uint64_t l1_index = guest_cluster >> header_.l2_bits();
    if (l1_index >= l1_.size()) {
        return false;
    }
    const std::uint64_t l2_offset = l1_[l1_index] & offset_mask;
    if (l2_offset == 0) {
        return true;
    }
    const auto* table = l2_table(l2_offset);
    if (table == nullptr) {
        return false;
    }
    const std::uint64_t entry = (*table)[guest_cluster & ((1ULL << header_.l2_bits()) - 1)];
    cluster.entry = entry;
    if ((entry & compressed_flag) != 0) {
        // Bits 0..x-1: the host offset; x..61: sectors beyond the first.
        const unsigned x = 62 - (header_.cluster_bits - 8);
        const std::uint64_t host = entry & ((1ULL << x) - 1);
        const std::uint64_t sectors =
            ((entry >> x) & ((1ULL << (header_.cluster_bits - 8)) - 1)) + 1;
        if (host >= file_bytes_) {
            return false;
        }
        cluster.kind = Kind::compressed;
        cluster.host = host;
        cluster.stored = std::min(sectors * 512 - (host & 511), file_bytes_ - host);
        cluster.freed_first = host & ~std::uint64_t{511};
        cluster.freed_bytes = sectors * 512;
        return true;
    }
    const std::uint64_t host = entry & offset_mask;
    if (host != 0 && ((host & (cluster_ - 1)) != 0 || host >= file_bytes_)) {
        return false;  // unaligned, or data the file does not hold
    }
    cluster.host = host;
    cluster.freed_first = host;
    cluster.freed_bytes = host != 0 ? cluster_ : 0;
    if (header_.version >= 3 && (entry & zero_flag) != 0) {
        cluster.kind = Kind::zero;
    } else if (host != 0) {
        cluster.kind = Kind::normal;
    }
    return true;
}

bool Qcow2Disk::decompressed(const Cluster& cluster, const std::uint8_t*& bytes) {
    if (decompressed_.size() != cluster_ || decompressed_entry_ != cluster.entry) {
        decompressed_entry_ = 0;
        decompressed_.resize(cluster_);
        std::vector<std::uint8_t> stored(cluster.stored);
        if (!pread_all(fd_.get(), stored, cluster.host) ||
            !decompress_cluster(header_.compression, stored, decompressed_)) {
            return false;
        }
        decompressed_entry_ = cluster.entry;
    }
    bytes = decompressed_.data();
    return true;
}

// `to` gets the guest cluster's bytes from `skip` on (as many as `to` holds).
bool Qcow2Disk::read_cluster(std::uint64_t guest_cluster, const Cluster& cluster,
                             std::uint64_t skip, std::span<const iovec> to) {
    const std::uint64_t length = iovec_bytes(to);
    switch (cluster.kind) {
        case Kind::zero:
            zero_iovecs(to, 0, length);
            return true;
        case Kind::normal: {
            // A last cluster may be cut short by the end of the file: the rest is zeros.
            const std::uint64_t start = cluster.host + skip;
            const std::uint64_t present =
                start < file_bytes_ ? std::min(length, file_bytes_ - start) : 0;
            zero_iovecs(to, present, length - present);
            const auto from_file = iovec_slice(to, 0, present);
            if (mapping_ && start + present <= mapping_->bytes().size()) {
                return read_from_mapping(*mapping_, from_file, start);
            }
            return transfer_all(fd_.get(), from_file, start, Direction::read);
        }
        case Kind::compressed: {
            const std::uint8_t* bytes = nullptr;
            if (!decompressed(cluster, bytes)) {
                return false;
            }
            copy_to_iovecs(to, 0, std::span(bytes + skip, length));
            return true;
        }
        case Kind::unallocated:
            break;
    }
    const std::uint64_t offset = guest_cluster * cluster_ + skip;
    const std::uint64_t below =
        backing_ && offset < backing_->size() ? std::min(length, backing_->size() - offset) : 0;
    zero_iovecs(to, below, length - below);
    return below == 0 || backing_->read(iovec_slice(to, 0, below), offset);
}

bool Qcow2Disk::read(std::span<const iovec> to, std::uint64_t offset) {
    const std::uint64_t length = iovec_bytes(to);
    for (std::uint64_t done = 0; done < length;) {
        const std::uint64_t at = offset + done;
        const std::uint64_t skip = at & (cluster_ - 1);
        const std::uint64_t count = std::min(cluster_ - skip, length - done);
        Cluster cluster;
        if (!lookup(at / cluster_, cluster)) {
            return false;
        }
        // Data clusters that lie one after the other in the file as well (an image
        // written or converted in order) are read in one transfer: a 1 MiB request is
        // one preadv, not sixteen.
        std::uint64_t run = count;
        while (cluster.kind == Kind::normal && done + run < length) {
            Cluster next;
            if (!lookup((at + run) / cluster_, next) || next.kind != Kind::normal ||
                next.host != cluster.host + skip + run) {
                break;
            }
            run += std::min(cluster_, length - done - run);
        }
        if (!read_cluster(at / cluster_, cluster, skip, iovec_slice(to, done, run))) {
            return false;
        }
        done += run;
    }
    return true;
}

bool Qcow2Disk::overlaps_metadata(std::uint64_t host) const {
    auto within = [&](std::uint64_t start, std::uint64_t bytes) {
        return host + cluster_ > start && host < start + bytes;
    };
    return host < cluster_ || within(header_.l1_offset, std::uint64_t{header_.l1_entries} * 8) ||
           within(header_.refcount_table_offset,
                  std::uint64_t{header_.refcount_table_clusters} * cluster_);
}

bool Qcow2Disk::write(std::span<const iovec> from, std::uint64_t offset) {
    if (access_ == Access::read_only) {
        return false;
    }
    struct Remap {
        std::uint64_t guest_cluster;
        std::uint64_t entry;
        Cluster old;
        bool fresh;  // the data went to a new cluster
    };
    std::vector<Remap> remaps;
    bool allocated = false;
    const std::uint64_t length = iovec_bytes(from);
    for (std::uint64_t done = 0; done < length;) {
        const std::uint64_t at = offset + done;
        const std::uint64_t guest_cluster = at / cluster_;
        const std::uint64_t skip = at & (cluster_ - 1);
        const std::uint64_t count = std::min(cluster_ - skip, length - done);
        Cluster cluster;
        if (!lookup(guest_cluster, cluster)) {
            return false;
        }
        const bool owned = (cluster.entry & copied_flag) != 0 && cluster.host != 0 &&
                           !overlaps_metadata(cluster.host);
        if (cluster.kind == Kind::normal && owned) {
            // Refcount 1: this image alone uses the cluster, write it in place.
            if (!transfer_all(fd_.get(), iovec_slice(from, done, count), cluster.host + skip,
                              Direction::write)) {
                return false;
            }
            note_written(cluster.host + skip + count);
            done += count;
            continue;
        }
        // Copy on write: the whole cluster, its old contents around the guest's bytes.
        std::vector<std::uint8_t> bytes(cluster_);
        if (count != cluster_) {
            const iovec whole{bytes.data(), bytes.size()};
            if (!read_cluster(guest_cluster, cluster, 0, std::span(&whole, 1))) {
                return false;
            }
        }
        copy_from_iovecs(from, done, std::span(bytes).subspan(skip, count));
        const bool fresh = !(cluster.kind == Kind::zero && owned);
        const std::uint64_t host = fresh ? reserve_cluster() : cluster.host;
        if (host == 0 || !pwrite_all(fd_.get(), bytes, host)) {
            return false;
        }
        note_written(host + cluster_);
        if (fresh && !set_refcount(host, 1)) {
            return false;
        }
        allocated = allocated || fresh;
        remaps.push_back({guest_cluster, host | copied_flag, cluster, fresh});
        done += count;
    }
    // The refcounts are on disk before any table points at the clusters they count.
    if (allocated && ::fdatasync(fd_.get()) != 0) {
        return false;
    }
    for (const Remap& remap : remaps) {
        if (!set_l2_entry(remap.guest_cluster, remap.entry)) {
            return false;
        }
        if (remap.fresh) {
            release(remap.old);
        }
    }
    return true;
}

bool Qcow2Disk::set_l2_entry(std::uint64_t guest_cluster, std::uint64_t entry) {
    const std::uint64_t l1_index = guest_cluster >> header_.l2_bits();
    const std::uint64_t l2_index = guest_cluster & ((1ULL << header_.l2_bits()) - 1);
    if (l1_index >= l1_.size()) {
        return false;
    }
    std::array<std::uint8_t, 8> bytes{};
    const std::uint64_t l2_offset = l1_[l1_index] & offset_mask;
    if (l2_offset != 0) {
        if ((l1_[l1_index] & copied_flag) == 0) {
            return false;  // an L2 table shared with a snapshot: not berth's to change
        }
        store_be64(bytes.data(), entry);
        if (!pwrite_all(fd_.get(), bytes, l2_offset + l2_index * 8)) {
            return false;
        }
        if (auto found = l2_cache_.find(l2_offset); found != l2_cache_.end()) {
            found->second[l2_index] = entry;
        }
        return true;
    }
    // A new L2 table, written whole (with the entry) and counted before L1 names it.
    const std::uint64_t table_offset = reserve_cluster();
    if (table_offset == 0) {
        return false;
    }
    std::vector<std::uint8_t> table(cluster_);
    store_be64(table.data() + l2_index * 8, entry);
    if (!pwrite_all(fd_.get(), table, table_offset)) {
        return false;
    }
    note_written(table_offset + cluster_);
    if (!set_refcount(table_offset, 1) || ::fdatasync(fd_.get()) != 0) {
        return false;
    }
    const std::uint64_t l1_entry = table_offset | copied_flag;
    store_be64(bytes.data(), l1_entry);
    if (!pwrite_all(fd_.get(), bytes, header_.l1_offset + l1_index * 8)) {
        return false;
    }
    l1_[l1_index] = l1_entry;
    return true;
}

// Gives up a cluster no table points at any more.
void Qcow2Disk::release(const Cluster& cluster) {
    if (cluster.freed_bytes == 0) {
        return;
    }
    const std::uint64_t first = cluster.freed_first & ~(cluster_ - 1);
    const std::uint64_t last = (cluster.freed_first + cluster.freed_bytes - 1) & ~(cluster_ - 1);
    for (std::uint64_t host = first; host <= last; host += cluster_) {
        if (overlaps_metadata(host)) {
            continue;  // a hostile entry named the header or a table: never uncount those
        }
        std::uint64_t count = 0;
        if (refcount(host, count) && count > 0) {
            set_refcount(host, count - 1);  // a failure leaks the cluster, nothing worse
        }
    }
}

bool Qcow2Disk::zero_range(std::uint64_t offset, std::uint64_t length, ZeroMode mode) {
    if (access_ == Access::read_only) {
        return false;
    }
    // Whole clusters become zero (or unallocated) entries; parts of clusters are written
    // as zeros (write-zeroes) or left alone (discard).
    const std::vector<std::uint8_t> zeros(cluster_, 0);
    for (std::uint64_t done = 0; done < length;) {
        const std::uint64_t at = offset + done;
        const std::uint64_t guest_cluster = at / cluster_;
        const std::uint64_t skip = at & (cluster_ - 1);
        const std::uint64_t count = std::min(cluster_ - skip, length - done);
        done += count;
        const bool whole = count == cluster_;
        // Without a backing file an unallocated cluster reads as zeros; with one only
        // version 3's zero flag does.
        const bool by_entry = whole && (!backing_ || header_.version >= 3);
        if (!by_entry) {
            if (mode == ZeroMode::discard) {
                continue;
            }
            const iovec piece{const_cast<std::uint8_t*>(zeros.data()), count};
            if (!write(std::span(&piece, 1), at)) {
                return false;
            }
            continue;
        }
        Cluster cluster;
        if (!lookup(guest_cluster, cluster)) {
            return false;
        }
        const std::uint64_t entry = backing_ ? zero_flag : 0;
        if (cluster.entry == entry ||
            (entry == 0 && cluster.kind == Kind::unallocated && cluster.entry == 0)) {
            continue;
        }
        if (!set_l2_entry(guest_cluster, entry)) {
            return false;
        }
        release(cluster);
    }
    return true;
}

bool Qcow2Disk::write_zeroes(std::uint64_t offset, std::uint64_t length) {
    return zero_range(offset, length, ZeroMode::write_zeroes);
}

bool Qcow2Disk::discard(std::uint64_t offset, std::uint64_t length) {
    return zero_range(offset, length, ZeroMode::discard);
}

bool Qcow2Disk::flush() {
    // Metadata is written through, so the file's data is all there is to flush.
    return access_ == Access::read_only || ::fdatasync(fd_.get()) == 0;
}

std::optional<std::uint64_t> Qcow2Disk::allocated_bytes() {
    std::uint64_t clusters = 0;
    for (const std::uint64_t l1_entry : l1_) {
        const std::uint64_t offset = l1_entry & offset_mask;
        if (offset == 0) {
            continue;
        }
        const auto* table = l2_table(offset);
        if (table == nullptr) {
            return std::nullopt;
        }
        for (const std::uint64_t entry : *table) {
            const bool zero =
                header_.version >= 3 && (entry & zero_flag) != 0 && (entry & compressed_flag) == 0;
            if (!zero && (entry & (compressed_flag | offset_mask)) != 0) {
                ++clusters;
            }
        }
    }
    return clusters * cluster_;
}

}  // namespace berth::devices::block
