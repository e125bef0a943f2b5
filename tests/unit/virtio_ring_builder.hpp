#pragma once
// Test helper: a guest RAM with a split virtqueue laid out by hand, so tests can play
// a (possibly hostile) driver.

#include <cstdint>
#include <vector>

#include "devices/virtio/queue.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace berth::test {

struct RingBuilder {
    static constexpr std::uint64_t ram_size = 1 << 20;
    static constexpr std::uint64_t descriptors = 0x1000;
    static constexpr std::uint64_t avail = 0x2000;
    static constexpr std::uint64_t used = 0x3000;
    static constexpr std::uint64_t data = 0x10000;  // free space for buffers

    explicit RingBuilder(std::uint16_t size = 8) : size(size) { memory.add_ram(0, ram_size); }

    devices::virtio::QueueLayout layout() const { return {size, descriptors, avail, used}; }

    void set_desc(std::uint16_t index, std::uint64_t address, std::uint32_t length,
                  std::uint16_t flags = 0, std::uint16_t next = 0) {
        memory.write_object(descriptors + 16ULL * index,
                            devices::virtio::Descriptor{address, length, flags, next});
    }
    // Makes chain `head` available (ring slot, then idx).
    void publish(std::uint16_t head) {
        memory.write_object<std::uint16_t>(avail + 4 + 2ULL * (avail_idx % size), head);
        ++avail_idx;
        memory.write_object<std::uint16_t>(avail + 2, avail_idx);
    }
    void set_avail_idx(std::uint16_t idx) {
        avail_idx = idx;
        memory.write_object<std::uint16_t>(avail + 2, idx);
    }
    std::uint16_t used_idx() const { return memory.read_object<std::uint16_t>(used + 2); }
    devices::virtio::UsedElement used_element(std::uint16_t slot) const {
        return memory.read_object<devices::virtio::UsedElement>(used + 4 + 8ULL * (slot % size));
    }
    void set_used_event(std::uint16_t value) {
        memory.write_object<std::uint16_t>(avail + 4 + 2ULL * size, value);
    }
    std::uint16_t avail_event() const {
        return memory.read_object<std::uint16_t>(used + 4 + 8ULL * size);
    }

    memory::GuestRam memory;
    std::uint16_t size;
    std::uint16_t avail_idx = 0;
};

}  // namespace berth::test
