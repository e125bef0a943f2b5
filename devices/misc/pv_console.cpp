#include "devices/misc/pv_console.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <utility>

namespace berth::devices {

namespace {

struct RingHeader {
    std::uint16_t size;
    std::uint16_t avail;
    std::uint16_t used;
    std::uint16_t zero;
};
static_assert(sizeof(RingHeader) == 8);

struct Descriptor {
    std::uint64_t address;
    std::uint32_t length;
    std::uint32_t result;
};
static_assert(sizeof(Descriptor) == 16);

constexpr std::uint16_t ring_offset = 0;
constexpr std::uint16_t notify_offset = 4;
constexpr std::uint16_t status_offset = 8;

}  // namespace

void PvConsole::io_read(std::uint16_t offset, std::span<std::uint8_t> data) {
    std::fill(data.begin(), data.end(), std::uint8_t{0});
    if (offset == status_offset) {
        const auto status = static_cast<std::uint32_t>(status_);
        std::memcpy(data.data(), &status, std::min(data.size(), sizeof status));
    }
}

void PvConsole::io_write(std::uint16_t offset, std::span<const std::uint8_t> data) {
    if (offset == ring_offset) {
        std::uint32_t address = 0;
        std::memcpy(&address, data.data(), std::min(data.size(), sizeof address));
        ring_address_ = address;
        ring_set_ = true;
    } else if (offset == notify_offset) {
        notify();
    }
}

void PvConsole::notify() {
    if (!ring_set_) {
        status_ = Status::no_ring;
        return;
    }
    RingHeader header{};
    try {
        header = memory_.read_object<RingHeader>(ring_address_);
        // Checks the whole descriptor table once, so a ring that runs off the end of
        // RAM is refused before any buffer is consumed.
        if (header.size == 0 || header.size > max_ring_size ||
            !memory_.contains(ring_address_ + sizeof(RingHeader),
                              std::uint64_t{header.size} * sizeof(Descriptor))) {
            status_ = Status::bad_ring;
            return;
        }
    } catch (const memory::GuestMemoryError&) {
        status_ = Status::bad_ring;
        return;
    }
    // Free-running 16-bit counters: their difference is the number of new buffers.
    const auto pending = static_cast<std::uint16_t>(header.avail - header.used);
    if (pending > header.size) {
        status_ = Status::bad_ring;
        return;
    }
    status_ = Status::ok;
    for (std::uint16_t i = 0; i < pending; ++i) {
        const std::uint64_t descriptor_address =
            ring_address_ + sizeof(RingHeader) +
            std::uint64_t{static_cast<std::uint16_t>(header.used % header.size)} *
                sizeof(Descriptor);
        const std::uint32_t result = consume(descriptor_address);
        memory_.write_object(descriptor_address + offsetof(Descriptor, result), result);
        ++header.used;
        // Publish progress per buffer, as a device running beside the guest would.
        memory_.write_object(ring_address_ + offsetof(RingHeader, used), header.used);
    }
}

std::uint32_t PvConsole::consume(std::uint64_t descriptor_address) {
    const auto descriptor = memory_.read_object<Descriptor>(descriptor_address);
    if (descriptor.length > max_buffer_length) {
        status_ = Status::bad_buffer;
        return refused;
    }
    try {
        const auto bytes = std::as_const(memory_).span(descriptor.address, descriptor.length);
        output_(bytes);
        return descriptor.length;
    } catch (const memory::GuestMemoryError&) {
        status_ = Status::bad_buffer;
        return refused;
    }
}

}  // namespace berth::devices
