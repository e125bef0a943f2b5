// Fuzz harness: the split virtqueue (devices/virtio/queue) against a hostile driver.
// Pops every chain the input's ring offers, reads and writes each chain's buffers as a
// device would and returns it. A broken ring must end in QueueViolation, a bad buffer
// in a `malformed` chain or a GuestMemoryError: nothing may read or write outside the
// guest RAM, crash or loop.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "devices/virtio/queue.hpp"
#include "tests/fuzz/guest_ring.hpp"
#include "vmm/memory/guest_memory.hpp"

using namespace berth::devices::virtio;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    berth::fuzz::GuestRing guest;
    if (!guest.load(std::span(data, size))) {
        return 0;
    }
    try {
        SplitQueue queue(guest.memory, guest.layout, guest.event_idx, guest.indirect);
        std::vector<std::uint8_t> bytes(4096);
        // The avail index may claim at most one queue's worth: more is a violation.
        for (unsigned served = 0; served <= guest.layout.size; ++served) {
            auto chain = queue.pop();
            if (!chain) {
                queue.enable_notifications();
                break;
            }
            std::uint32_t written = 0;
            if (chain->malformed.empty()) {
                queue.gather(*chain, 0, bytes);
                written = static_cast<std::uint32_t>(queue.scatter(*chain, 1, bytes));
            }
            queue.push_used(chain->head, written);
            queue.should_interrupt();
        }
    } catch (const QueueViolation&) {
    } catch (const berth::memory::GuestMemoryError&) {
    }
    return 0;
}
