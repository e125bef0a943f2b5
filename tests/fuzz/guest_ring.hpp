#pragma once
// The guest side of the ring harnesses: the fuzzer's input is the first bytes of a
// small guest RAM, laid out as a driver would lay out one split virtqueue, so that the
// mutations land in descriptors, ring indexes and buffers alike.
//
// Input: byte 0 picks the queue size (a power of two, 1..256) and byte 1 the ring
// features (bit 0 EVENT_IDX, bit 1 indirect descriptors); the rest is copied to guest
// address 0. The descriptor table is at 0x0, the available ring at 0x1000, the used
// ring at 0x2000, and buffers usually point at 0x3000 and up. RAM ends at 64 KiB, so
// addresses past it are outside RAM, as a hostile driver may write them.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "devices/virtio/queue.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace berth::fuzz {

struct GuestRing {
    static constexpr std::uint64_t ram_size = 64 * 1024;
    static constexpr std::uint64_t descriptors = 0x0;
    static constexpr std::uint64_t avail = 0x1000;
    static constexpr std::uint64_t used = 0x2000;
    static constexpr std::size_t header = 2;

    devices::virtio::QueueLayout layout;
    devices::virtio::EventIdx event_idx = devices::virtio::EventIdx::off;
    devices::virtio::IndirectDescriptors indirect = devices::virtio::IndirectDescriptors::off;
    memory::GuestRam memory;

    // False when the input is too short to say anything.
    bool load(std::span<const std::uint8_t> input) {
        if (input.size() < header) {
            return false;
        }
        layout = {static_cast<std::uint16_t>(1u << (input[0] % 9)), descriptors, avail, used};
        event_idx =
            (input[1] & 1) != 0 ? devices::virtio::EventIdx::on : devices::virtio::EventIdx::off;
        indirect = (input[1] & 2) != 0 ? devices::virtio::IndirectDescriptors::on
                                       : devices::virtio::IndirectDescriptors::off;
        memory.add_ram(0, ram_size);
        const auto image = input.subspan(header);
        memory.write(0, image.first(std::min<std::size_t>(image.size(), ram_size)));
        return true;
    }
};

}  // namespace berth::fuzz
