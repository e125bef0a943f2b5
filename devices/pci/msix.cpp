#include "devices/pci/msix.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth::devices::pci {

MsiMessage MsixTable::Entry::message() const {
    std::uint32_t words[3];
    std::memcpy(words, bytes.data(), sizeof words);
    return {static_cast<std::uint64_t>(words[1]) << 32 | words[0], words[2]};
}

MsixTable::MsixTable(std::uint16_t vectors, MsiSink& sink) : sink_(sink), entries_(vectors) {
    if (vectors == 0 || vectors > 2048) {
        throw Error(fmt::format("MSI-X table of {} vectors (1..2048)", vectors));
    }
    for (auto& entry : entries_) {
        entry.bytes[12] = 1;  // vectors start masked
    }
}

std::uint8_t MsixTable::add_capability(ConfigSpace& config, unsigned bar,
                                       std::uint32_t table_offset, std::uint32_t pba_offset) {
    const std::uint16_t control = static_cast<std::uint16_t>(vectors() - 1);
    const std::uint32_t table = table_offset | bar;
    const std::uint32_t pba = pba_offset | bar;
    const std::uint8_t body[12] = {capability_msix,
                                   0,
                                   static_cast<std::uint8_t>(control),
                                   static_cast<std::uint8_t>(control >> 8),
                                   static_cast<std::uint8_t>(table),
                                   static_cast<std::uint8_t>(table >> 8),
                                   static_cast<std::uint8_t>(table >> 16),
                                   static_cast<std::uint8_t>(table >> 24),
                                   static_cast<std::uint8_t>(pba),
                                   static_cast<std::uint8_t>(pba >> 8),
                                   static_cast<std::uint8_t>(pba >> 16),
                                   static_cast<std::uint8_t>(pba >> 24)};
    // Only the enable and function-mask bits of message control are writable.
    const std::uint8_t writable[12] = {0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0};
    capability_ = config.add_capability(body, writable);
    return capability_;
}

void MsixTable::update_control(const ConfigSpace& config) {
    const std::uint16_t control = config.read16(capability_ + 2u);
    const std::lock_guard lock(mutex_);
    enabled_ = (control & msix_control_enable) != 0;
    function_masked_ = (control & msix_control_function_mask) != 0;
    for (std::uint16_t vector = 0; vector < vectors(); ++vector) {
        sync(vector);
    }
}

std::vector<MsixTable::VectorState> MsixTable::state() const {
    const std::lock_guard lock(mutex_);
    std::vector<VectorState> vectors;
    vectors.reserve(entries_.size());
    for (const auto& entry : entries_) {
        vectors.push_back({entry.bytes, entry.pending});
    }
    return vectors;
}

void MsixTable::restore(const std::vector<VectorState>& vectors) {
    const std::lock_guard lock(mutex_);
    if (vectors.size() != entries_.size()) {
        throw Error(fmt::format("MSI-X state of {} vectors for a table of {}", vectors.size(),
                                entries_.size()));
    }
    for (std::size_t i = 0; i < vectors.size(); ++i) {
        entries_[i].bytes = vectors[i].entry;
        entries_[i].pending = vectors[i].pending;
        entries_[i].has_route = false;
    }
}

bool MsixTable::enabled() const {
    const std::lock_guard lock(mutex_);
    return enabled_;
}

void MsixTable::table_read(std::uint64_t offset, std::span<std::uint8_t> data) const {
    const std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < data.size(); ++i) {
        const std::uint64_t at = offset + i;
        data[i] =
            at < table_bytes() ? entries_[at / msix_entry_size].bytes[at % msix_entry_size] : 0xff;
    }
}

void MsixTable::table_write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    const std::lock_guard lock(mutex_);
    std::uint64_t touched_first = ~0ULL;
    std::uint64_t touched_last = 0;
    for (std::size_t i = 0; i < data.size(); ++i) {
        const std::uint64_t at = offset + i;
        if (at >= table_bytes()) {
            break;
        }
        const unsigned byte = at % msix_entry_size;
        if (byte >= 13) {
            continue;  // reserved bits of vector control
        }
        entries_[at / msix_entry_size].bytes[byte] = byte == 12 ? (data[i] & 1) : data[i];
        touched_first = std::min(touched_first, at / msix_entry_size);
        touched_last = at / msix_entry_size;
    }
    for (std::uint64_t vector = touched_first; vector <= touched_last && vector < vectors();
         ++vector) {
        sync(static_cast<std::uint16_t>(vector));
    }
}

void MsixTable::pba_read(std::uint64_t offset, std::span<std::uint8_t> data) const {
    const std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < data.size(); ++i) {
        std::uint8_t byte = 0;
        for (unsigned bit = 0; bit < 8; ++bit) {
            const std::uint64_t vector = (offset + i) * 8 + bit;
            if (vector < entries_.size() && entries_[vector].pending) {
                byte |= static_cast<std::uint8_t>(1u << bit);
            }
        }
        data[i] = byte;
    }
}

void MsixTable::sync(std::uint16_t vector) {
    Entry& entry = entries_[vector];
    if (!enabled_ || entry.masked()) {
        return;  // the guest may still be writing the message: route it on unmask
    }
    const MsiMessage message = entry.message();
    if (!entry.has_route || !(entry.routed == message)) {
        sink_.route(vector, message);
        entry.routed = message;
        entry.has_route = true;
    }
    if (entry.pending && !function_masked_) {
        entry.pending = false;
        sink_.trigger(vector);
    }
}

void MsixTable::signal(std::uint16_t vector) {
    const std::lock_guard lock(mutex_);
    if (!enabled_ || vector >= entries_.size()) {
        return;
    }
    Entry& entry = entries_[vector];
    if (function_masked_ || entry.masked()) {
        entry.pending = true;
        return;
    }
    if (!entry.has_route || !(entry.routed == entry.message())) {
        sink_.route(vector, entry.message());
        entry.routed = entry.message();
        entry.has_route = true;
    }
    sink_.trigger(vector);
}

}  // namespace berth::devices::pci
