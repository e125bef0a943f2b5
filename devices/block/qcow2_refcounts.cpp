// The qcow2 refcounts: how many tables point at each host cluster. berth only takes new
// clusters from the end of the file and counts them; see qcow2_disk.hpp for the order
// of writes that keeps a killed berth's image consistent.

#include <algorithm>

#include "devices/block/iovec_range.hpp"
#include "devices/block/qcow2_disk.hpp"

namespace berth::devices::block {

namespace {

using namespace qcow2;

// Host offsets must fit the 56-bit fields of the tables.
constexpr std::uint64_t max_host_offset = 1ULL << 56;

// Where entry `index` of a refcount block lies: its first byte, how many bytes hold it,
// and (below 8 bits per entry) its shift within that byte.
struct Slot {
    std::uint64_t byte;
    unsigned bytes;
    unsigned shift;
};

Slot slot_of(std::uint64_t index, unsigned order) {
    const unsigned bits = 1u << order;
    if (bits < 8) {
        // Narrow entries fill each byte from its least significant bit up.
        return {index * bits / 8, 1, static_cast<unsigned>(index * bits % 8)};
    }
    return {index * (bits / 8), bits / 8, 0};
}

std::uint64_t get_entry(const std::vector<std::uint8_t>& block, std::uint64_t index,
                        unsigned order) {
    const unsigned bits = 1u << order;
    const Slot slot = slot_of(index, order);
    if (bits < 8) {
        return (block[slot.byte] >> slot.shift) & ((1u << bits) - 1);
    }
    std::uint64_t value = 0;
    for (unsigned i = 0; i < slot.bytes; ++i) {
        value = (value << 8) | block[slot.byte + i];
    }
    return value;
}

void put_entry(std::vector<std::uint8_t>& block, std::uint64_t index, unsigned order,
               std::uint64_t value) {
    const unsigned bits = 1u << order;
    const Slot slot = slot_of(index, order);
    if (bits < 8) {
        const unsigned mask = ((1u << bits) - 1) << slot.shift;
        block[slot.byte] =
            static_cast<std::uint8_t>((block[slot.byte] & ~mask) | ((value << slot.shift) & mask));
        return;
    }
    for (unsigned i = slot.bytes; i-- > 0;) {
        block[slot.byte + i] = static_cast<std::uint8_t>(value);
        value >>= 8;
    }
}

}  // namespace

std::uint64_t Qcow2Disk::reserve_cluster() {
    if (next_free_ == 0 || next_free_ >= max_host_offset - cluster_) {
        return 0;
    }
    const std::uint64_t host = next_free_;
    next_free_ += cluster_;
    return host;
}

std::vector<std::uint8_t>* Qcow2Disk::refcount_block(std::uint64_t offset) {
    if (auto found = refcount_cache_.find(offset); found != refcount_cache_.end()) {
        return &found->second;
    }
    if (refcount_cache_.size() >= cache_tables_) {
        refcount_cache_.clear();
    }
    std::vector<std::uint8_t> block(cluster_);
    if (!pread_all(fd_.get(), block, offset)) {
        return nullptr;
    }
    return &refcount_cache_.emplace(offset, std::move(block)).first->second;
}

bool Qcow2Disk::refcount(std::uint64_t host, std::uint64_t& value) {
    const std::uint64_t cluster = host / cluster_;
    const std::uint64_t per_block = cluster_ * 8 >> header_.refcount_order;
    const std::uint64_t index = cluster / per_block;
    value = 0;
    if (index >= refcount_table_.size()) {
        return true;
    }
    const std::uint64_t block_offset = refcount_table_[index] & ~std::uint64_t{511};
    if (block_offset == 0) {
        return true;
    }
    const auto* block = refcount_block(block_offset);
    if (block == nullptr) {
        return false;
    }
    value = get_entry(*block, cluster % per_block, header_.refcount_order);
    return true;
}

bool Qcow2Disk::set_refcount(std::uint64_t host, std::uint64_t value) {
    const std::uint64_t cluster = host / cluster_;
    const unsigned order = header_.refcount_order;
    const std::uint64_t per_block = cluster_ * 8 >> order;
    const std::uint64_t index = cluster / per_block;
    if (index >= refcount_table_.size()) {
        return false;  // the refcount table is full; growing it is not done
    }
    std::uint64_t block_offset = refcount_table_[index] & ~std::uint64_t{511};
    if (block_offset != 0) {
        auto* block = refcount_block(block_offset);
        if (block == nullptr) {
            return false;
        }
        put_entry(*block, cluster % per_block, order, value);
        const Slot slot = slot_of(cluster % per_block, order);
        return pwrite_all(fd_.get(), std::span(*block).subspan(slot.byte, slot.bytes),
                          block_offset + slot.byte);
    }
    if (value == 0) {
        return true;
    }
    // A new refcount block, from the end of the file: written whole, itself counted,
    // before the refcount table names it.
    block_offset = reserve_cluster();
    if (block_offset == 0) {
        return false;
    }
    std::vector<std::uint8_t> block(cluster_);
    put_entry(block, cluster % per_block, order, value);
    const std::uint64_t own = block_offset / cluster_;
    if (own / per_block == index) {
        put_entry(block, own % per_block, order, 1);
    } else if (!set_refcount(block_offset, 1)) {
        // Counted in the next block (this one's range ended just before it).
        return false;
    }
    if (!pwrite_all(fd_.get(), block, block_offset)) {
        return false;
    }
    note_written(block_offset + cluster_);
    std::array<std::uint8_t, 8> entry{};
    store_be64(entry.data(), block_offset);
    if (!pwrite_all(fd_.get(), entry, header_.refcount_table_offset + index * 8)) {
        return false;
    }
    refcount_table_[index] = block_offset;
    refcount_cache_[block_offset] = std::move(block);
    return true;
}

}  // namespace berth::devices::block
