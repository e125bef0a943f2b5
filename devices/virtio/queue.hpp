#pragma once
// A virtio 1.x split virtqueue, read from guest RAM with suspicion.
//
// The driver (the guest) owns three areas: the descriptor table (16 bytes per
// descriptor), the available ring (flags, idx, ring[size], used_event) and the used
// ring (flags, idx, {id, len}[size], avail_event). The device pops chains of
// descriptors the driver made available and returns them through the used ring.
//
// Nothing here trusts the guest. Every address goes through GuestMemory, every
// descriptor is copied once before it is checked (so the guest cannot change it
// between check and use), chains are capped at the queue size (which also ends
// loops), indirect tables must lie in RAM, have a whole number of descriptors and
// may not nest. A broken ring (a head or next index out of range, the avail index
// running more than a queue's worth ahead, a loop) cannot be answered reliably, so it
// throws QueueViolation and the transport sets DEVICE_NEEDS_RESET. A chain that is
// well formed as a ring but wrong for the device (a buffer outside RAM, a readable
// buffer after a writable one) is handed to the device marked `malformed`: the
// device fails that one request and the queue carries on.

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vmm/common/error.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace berth::devices::virtio {

// The ring cannot be trusted any more; the device must be reset by the driver.
class QueueViolation : public Error {
public:
    using Error::Error;
};

inline constexpr std::uint16_t desc_flag_next = 1;
inline constexpr std::uint16_t desc_flag_write = 2;
inline constexpr std::uint16_t desc_flag_indirect = 4;
inline constexpr std::uint16_t avail_flag_no_interrupt = 1;
inline constexpr std::uint16_t used_flag_no_notify = 1;

// The guest's layout of one descriptor (little endian; x86 hosts only).
struct Descriptor {
    std::uint64_t address;
    std::uint32_t length;
    std::uint16_t flags;
    std::uint16_t next;
};
static_assert(sizeof(Descriptor) == 16);

struct UsedElement {
    std::uint32_t id;
    std::uint32_t length;
};
static_assert(sizeof(UsedElement) == 8);

// One buffer of a chain, checked to lie inside guest RAM unless the chain is malformed.
struct Buffer {
    std::uint64_t address;
    std::uint32_t length;
};

struct DescriptorChain {
    std::uint16_t head = 0;
    std::vector<Buffer> readable;  // device reads these, in order
    std::vector<Buffer> writable;  // then writes these, in order
    // Why the device must fail this request (empty when the chain is usable).
    std::string malformed;

    std::uint64_t readable_bytes() const;
    std::uint64_t writable_bytes() const;
};

struct QueueLayout {
    std::uint16_t size = 0;  // a power of two, 1..32768
    std::uint64_t descriptors = 0;
    std::uint64_t driver_area = 0;  // the available ring
    std::uint64_t device_area = 0;  // the used ring
};

enum class EventIdx { off, on };
enum class IndirectDescriptors { off, on };

class SplitQueue {
public:
    // Checks the layout (size, alignment, all three areas inside RAM); throws
    // QueueViolation when the driver enabled a queue that cannot work.
    SplitQueue(memory::GuestMemory& memory, const QueueLayout& layout, EventIdx event_idx,
               IndirectDescriptors indirect);

    // The next chain the driver made available, or nothing when the ring is empty or
    // the flag given to stop_on() is set. Throws QueueViolation for a broken ring.
    std::optional<DescriptorChain> pop();
    // Chain `head` again, as pop() returned it before: for a device that kept chains
    // across a snapshot and restore (it records their heads). Throws QueueViolation
    // for a head outside the queue or a broken chain.
    DescriptorChain chain(std::uint16_t head) const;

    // While `flag` is set, pop() finds nothing, so a device's loop over the ring
    // returns: a ring the guest (or the device's own writes into it) keeps filling
    // never runs dry, and the transport's worker must still stop on a reset.
    void stop_on(const std::atomic<bool>* flag) { stop_ = flag; }

    // Returns chain `head` to the driver with `written` bytes written into its
    // writable buffers.
    void push_used(std::uint16_t head, std::uint32_t written);

    // After push_used: whether the driver asked to be interrupted for what was
    // returned since the last call (EVENT_IDX's used_event, or the NO_INTERRUPT flag).
    bool should_interrupt();

    // Asks the driver to notify the device for the next available buffer; returns
    // true when buffers arrived meanwhile (call pop() again before sleeping).
    bool enable_notifications();

    // Reads/writes a chain's buffers as one stream (checked again on every access).
    // gather copies up to out.size() bytes from the readable buffers starting at
    // `offset`; returns the count copied.
    std::size_t gather(const DescriptorChain& chain, std::uint64_t offset,
                       std::span<std::uint8_t> out) const;
    // scatter copies `in` into the writable buffers starting at `offset`; returns the
    // count copied.
    std::size_t scatter(const DescriptorChain& chain, std::uint64_t offset,
                        std::span<const std::uint8_t> in);
    // The same streams as host memory, for a system call to read from or write into
    // directly (writev of a frame to a tap, readv of one into receive buffers): appends
    // one iovec per buffer (or its part) from `offset` on, `length` bytes at most, each
    // checked to lie in RAM; returns the bytes they cover.
    std::uint64_t readable_iovecs(const DescriptorChain& chain, std::uint64_t offset,
                                  std::uint64_t length, std::vector<iovec>& out) const;
    std::uint64_t writable_iovecs(const DescriptorChain& chain, std::uint64_t offset,
                                  std::uint64_t length, std::vector<iovec>& out);

    std::uint16_t size() const { return layout_.size; }
    // Different for every queue made in this process: a device that keeps chains
    // across process() calls (virtio-net's receive side) tells by it that the driver
    // reset the queue under them.
    std::uint64_t id() const { return id_; }
    std::uint16_t next_avail() const { return next_avail_; }

    // Where the device is in the rings, for snapshots (all requests drained).
    struct Position {
        std::uint16_t next_avail = 0;
        std::uint16_t next_used = 0;
        std::uint16_t last_signalled_used = 0;
    };
    Position position() const { return {next_avail_, next_used_, last_signalled_used_}; }
    // For a restore, right after construction: goes on from `position`, and puts the
    // used ring's index back to what the driver last saw (next_used), which the
    // constructor set to 0 as a fresh queue's rule asks.
    void set_position(const Position& position);
    memory::GuestMemory& memory() { return memory_; }

private:
    std::uint16_t read_avail_idx() const;
    // Walks the chain starting at `head`; throws QueueViolation when the ring is broken.
    DescriptorChain walk(std::uint16_t head) const;
    void add_buffer(DescriptorChain& chain, const Descriptor& descriptor,
                    bool& seen_writable) const;

    memory::GuestMemory& memory_;
    QueueLayout layout_;
    EventIdx event_idx_;
    IndirectDescriptors indirect_;
    std::uint16_t next_avail_ = 0;
    std::uint16_t next_used_ = 0;
    std::uint16_t last_signalled_used_ = 0;  // used idx at the last should_interrupt()
    std::uint64_t id_;
    const std::atomic<bool>* stop_ = nullptr;
};

}  // namespace berth::devices::virtio
