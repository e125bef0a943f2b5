#include "devices/virtio/queue.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace berth::devices::virtio {

namespace {

constexpr std::uint16_t max_queue_size = 32768;
constexpr std::uint64_t ring_header = 4;  // flags and idx

std::atomic<std::uint64_t> next_queue_id{1};

// The guest changes the ring indices under our feet from other vCPUs: read and write
// them as single atomic accesses with the ordering the virtio memory model asks for.
std::uint16_t load_u16(const memory::GuestMemory& memory, std::uint64_t address) {
    auto* p = reinterpret_cast<const std::uint16_t*>(memory.span(address, 2).data());
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

void store_u16(memory::GuestMemory& memory, std::uint64_t address, std::uint16_t value) {
    auto* p = reinterpret_cast<std::uint16_t*>(memory.span(address, 2).data());
    __atomic_store_n(p, value, __ATOMIC_RELEASE);
}

}  // namespace

std::uint64_t DescriptorChain::readable_bytes() const {
    std::uint64_t total = 0;
    for (const auto& buffer : readable) {
        total += buffer.length;
    }
    return total;
}

std::uint64_t DescriptorChain::writable_bytes() const {
    std::uint64_t total = 0;
    for (const auto& buffer : writable) {
        total += buffer.length;
    }
    return total;
}

SplitQueue::SplitQueue(memory::GuestMemory& memory, const QueueLayout& layout, EventIdx event_idx,
                       IndirectDescriptors indirect)
    : memory_(memory),
      layout_(layout),
      event_idx_(event_idx),
      indirect_(indirect),
      id_(next_queue_id.fetch_add(1, std::memory_order_relaxed)) {
    const std::uint16_t size = layout.size;
    if (size == 0 || size > max_queue_size || (size & (size - 1)) != 0) {
        throw QueueViolation(
            fmt::format("queue size {} is not a power of two up to {}", size, max_queue_size));
    }
    struct Area {
        const char* name;
        std::uint64_t address;
        std::uint64_t length;
        std::uint64_t alignment;
    };
    const Area areas[] = {
        {"descriptor table", layout.descriptors, 16ULL * size, 16},
        {"available ring", layout.driver_area, ring_header + 2ULL * size + 2, 2},
        {"used ring", layout.device_area, ring_header + 8ULL * size + 2, 4},
    };
    for (const auto& area : areas) {
        if (area.address % area.alignment != 0) {
            throw QueueViolation(fmt::format("{} at {:#x} is not {}-byte aligned", area.name,
                                             area.address, area.alignment));
        }
        if (!memory.contains(area.address, area.length)) {
            throw QueueViolation(fmt::format("{} at {:#x} ({} bytes) is outside guest RAM",
                                             area.name, area.address, area.length));
        }
    }
    // A freshly enabled queue starts at index 0 on both rings (the spec's rule); we
    // publish that instead of trusting whatever the guest left there.
    store_u16(memory_, layout_.device_area + 2, 0);
}

void SplitQueue::set_position(const Position& position) {
    next_avail_ = position.next_avail;
    next_used_ = position.next_used;
    last_signalled_used_ = position.last_signalled_used;
    // A driver does not wait for an interrupt to read the used index (Linux's transmit
    // path frees sent buffers whenever it sends): left at the constructor's 0, the
    // restored guest would take the entries from 0 to its own count as new, stale ids
    // and all ("output.0:id 0 is not a head!").
    store_u16(memory_, layout_.device_area + 2, next_used_);
}

std::uint16_t SplitQueue::read_avail_idx() const {
    return load_u16(memory_, layout_.driver_area + 2);
}

std::optional<DescriptorChain> SplitQueue::pop() {
    if (stop_ != nullptr && stop_->load(std::memory_order_relaxed)) {
        return std::nullopt;
    }
    const std::uint16_t avail_idx = read_avail_idx();
    const std::uint16_t pending = static_cast<std::uint16_t>(avail_idx - next_avail_);
    if (pending == 0) {
        return std::nullopt;
    }
    if (pending > layout_.size) {
        throw QueueViolation(fmt::format(
            "available index {} is {} entries ahead of the device's {}, more than the queue "
            "size {}",
            avail_idx, pending, next_avail_, layout_.size));
    }
    // The acquire load of idx orders the ring entry read after it.
    const std::uint64_t slot =
        layout_.driver_area + ring_header + 2ULL * (next_avail_ % layout_.size);
    const std::uint16_t head = memory_.read_object<std::uint16_t>(slot);
    if (head >= layout_.size) {
        throw QueueViolation(fmt::format("available ring names descriptor {} of a {}-entry queue",
                                         head, layout_.size));
    }
    DescriptorChain chain = walk(head);
    ++next_avail_;
    // avail_event stays where enable_notifications() put it: while the device works
    // through a burst, buffers the driver adds meanwhile cost it no notification (an
    // exit each). The transport calls enable_notifications() when the device is done
    // and looks again, so nothing is missed before the worker sleeps on the eventfd.
    return chain;
}

DescriptorChain SplitQueue::chain(std::uint16_t head) const {
    if (head >= layout_.size) {
        throw QueueViolation(
            fmt::format("descriptor {} is outside the {}-entry queue", head, layout_.size));
    }
    return walk(head);
}

DescriptorChain SplitQueue::walk(std::uint16_t head) const {
    DescriptorChain chain;
    chain.head = head;
    std::uint64_t table = layout_.descriptors;
    std::uint32_t table_size = layout_.size;
    bool in_indirect = false;
    bool seen_writable = false;
    std::uint32_t index = head;
    std::uint32_t followed = 0;
    for (;;) {
        // A chain visits each descriptor of its table at most once, so a longer one
        // must loop.
        if (++followed > table_size) {
            throw QueueViolation(fmt::format(
                "descriptor chain from head {} is longer than its {}-entry table (a loop?)", head,
                table_size));
        }
        const auto descriptor = memory_.read_object<Descriptor>(table + 16ULL * index);
        if ((descriptor.flags & desc_flag_indirect) != 0) {
            if (indirect_ == IndirectDescriptors::off) {
                throw QueueViolation("indirect descriptor without VIRTIO_F_INDIRECT_DESC");
            }
            if (in_indirect) {
                throw QueueViolation("indirect descriptor inside an indirect table");
            }
            if ((descriptor.flags & desc_flag_next) != 0) {
                throw QueueViolation("indirect descriptor with the NEXT flag");
            }
            if (descriptor.length == 0 || descriptor.length % 16 != 0 ||
                descriptor.length / 16 > max_queue_size) {
                throw QueueViolation(
                    fmt::format("indirect table of {} bytes is not 1..{} descriptors",
                                descriptor.length, max_queue_size));
            }
            if (descriptor.address % 16 != 0 ||
                !memory_.contains(descriptor.address, descriptor.length)) {
                throw QueueViolation(fmt::format(
                    "indirect table at {:#x} ({} bytes) is misaligned or outside guest RAM",
                    descriptor.address, descriptor.length));
            }
            table = descriptor.address;
            table_size = descriptor.length / 16;
            in_indirect = true;
            index = 0;
            followed = 0;
            continue;
        }
        add_buffer(chain, descriptor, seen_writable);
        if ((descriptor.flags & desc_flag_next) == 0) {
            return chain;
        }
        index = descriptor.next;
        if (index >= table_size) {
            throw QueueViolation(
                fmt::format("descriptor next {} is outside its {}-entry table", index, table_size));
        }
    }
}

void SplitQueue::add_buffer(DescriptorChain& chain, const Descriptor& descriptor,
                            bool& seen_writable) const {
    const bool writable = (descriptor.flags & desc_flag_write) != 0;
    if (!chain.malformed.empty()) {
        return;  // the request fails anyway; walking on only checks the ring
    }
    if (!writable && seen_writable) {
        chain.malformed = "a device-readable buffer follows a device-writable one";
    } else if (!memory_.contains(descriptor.address, descriptor.length)) {
        chain.malformed = fmt::format("buffer at {:#x} ({} bytes) is outside guest RAM",
                                      descriptor.address, descriptor.length);
    }
    if (!chain.malformed.empty()) {
        // No device may touch any buffer of a chain it must fail.
        chain.readable.clear();
        chain.writable.clear();
        return;
    }
    seen_writable = seen_writable || writable;
    (writable ? chain.writable : chain.readable).push_back({descriptor.address, descriptor.length});
}

void SplitQueue::push_used(std::uint16_t head, std::uint32_t written) {
    const std::uint64_t slot =
        layout_.device_area + ring_header + 8ULL * (next_used_ % layout_.size);
    memory_.write_object(slot, UsedElement{head, written});
    ++next_used_;
    // Release: the element (and the data written into the buffers) before the index.
    store_u16(memory_, layout_.device_area + 2, next_used_);
}

bool SplitQueue::should_interrupt() {
    // The driver writes used_event/flags and then reads our used idx; we wrote idx and
    // now read theirs. Only a full fence keeps both sides from missing each other.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const std::uint16_t old_used = last_signalled_used_;
    const std::uint16_t new_used = next_used_;
    last_signalled_used_ = new_used;
    if (old_used == new_used) {
        return false;
    }
    if (event_idx_ == EventIdx::on) {
        const std::uint16_t used_event =
            load_u16(memory_, layout_.driver_area + ring_header + 2ULL * layout_.size);
        return static_cast<std::uint16_t>(new_used - used_event - 1) <
               static_cast<std::uint16_t>(new_used - old_used);
    }
    return (load_u16(memory_, layout_.driver_area) & avail_flag_no_interrupt) == 0;
}

bool SplitQueue::enable_notifications() {
    if (event_idx_ == EventIdx::on) {
        store_u16(memory_, layout_.device_area + ring_header + 8ULL * layout_.size, next_avail_);
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return read_avail_idx() != next_avail_;
}

std::size_t SplitQueue::gather(const DescriptorChain& chain, std::uint64_t offset,
                               std::span<std::uint8_t> out) const {
    std::size_t copied = 0;
    for (const auto& buffer : chain.readable) {
        if (copied == out.size()) {
            break;
        }
        if (offset >= buffer.length) {
            offset -= buffer.length;
            continue;
        }
        const std::size_t count =
            std::min<std::uint64_t>(buffer.length - offset, out.size() - copied);
        memory_.read(buffer.address + offset, out.subspan(copied, count));
        copied += count;
        offset = 0;
    }
    return copied;
}

std::size_t SplitQueue::scatter(const DescriptorChain& chain, std::uint64_t offset,
                                std::span<const std::uint8_t> in) {
    std::size_t copied = 0;
    for (const auto& buffer : chain.writable) {
        if (copied == in.size()) {
            break;
        }
        if (offset >= buffer.length) {
            offset -= buffer.length;
            continue;
        }
        const std::size_t count =
            std::min<std::uint64_t>(buffer.length - offset, in.size() - copied);
        memory_.write(buffer.address + offset, in.subspan(copied, count));
        copied += count;
        offset = 0;
    }
    return copied;
}

namespace {

std::uint64_t append_iovecs(const memory::GuestMemory& memory, const std::vector<Buffer>& buffers,
                            std::uint64_t offset, std::uint64_t length, std::vector<iovec>& out) {
    std::uint64_t covered = 0;
    for (const auto& buffer : buffers) {
        if (covered == length) {
            break;
        }
        if (offset >= buffer.length) {
            offset -= buffer.length;
            continue;
        }
        const std::uint64_t count =
            std::min<std::uint64_t>(buffer.length - offset, length - covered);
        const auto bytes = memory.span(buffer.address + offset, count);
        // The system call writes through it only for writable buffers (see the callers).
        out.push_back({const_cast<std::uint8_t*>(bytes.data()), bytes.size()});
        covered += count;
        offset = 0;
    }
    return covered;
}

}  // namespace

std::uint64_t SplitQueue::readable_iovecs(const DescriptorChain& chain, std::uint64_t offset,
                                          std::uint64_t length, std::vector<iovec>& out) const {
    return append_iovecs(memory_, chain.readable, offset, length, out);
}

std::uint64_t SplitQueue::writable_iovecs(const DescriptorChain& chain, std::uint64_t offset,
                                          std::uint64_t length, std::vector<iovec>& out) {
    return append_iovecs(memory_, chain.writable, offset, length, out);
}

}  // namespace berth::devices::virtio
