#pragma once
// What a virtio device model (network, block, entropy, console) tells its transport, and what
// the transport calls back. The transport owns the queues, feature negotiation, the
// status state machine and interrupts; the device only serves requests.

#include <poll.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "devices/virtio/queue.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace berth::devices::virtio {

inline constexpr std::uint64_t feature_indirect_desc = 1ULL << 28;
inline constexpr std::uint64_t feature_event_idx = 1ULL << 29;
inline constexpr std::uint64_t feature_version_1 = 1ULL << 32;
inline constexpr std::uint64_t feature_ring_reset = 1ULL << 40;

// The ring features the transport may offer for any device.
inline constexpr std::uint64_t ring_features =
    feature_indirect_desc | feature_event_idx | feature_version_1 | feature_ring_reset;

// One queue as a data plane outside berth (the kernel's vhost) takes it over: where its
// rings are, the eventfd the guest's doorbell bumps (an ioeventfd), and the eventfd
// that raises the queue's MSI-X vector (an irqfd; -1 when the vector is none).
struct ExternalQueue {
    std::uint16_t index = 0;
    QueueLayout layout;  // with the size the driver chose
    int kick_fd = -1;
    int call_fd = -1;
};

enum class DeviceType : std::uint16_t { net = 1, block = 2, console = 3, entropy = 4 };

class Device {
public:
    virtual ~Device() = default;

    virtual std::string_view name() const = 0;
    virtual DeviceType type() const = 0;
    virtual std::uint32_t pci_class() const = 0;
    // Device-type feature bits; the transport adds the ring and version features.
    virtual std::uint64_t features() const = 0;
    virtual std::uint16_t queue_count() const = 0;
    virtual std::uint16_t max_queue_size() const { return 256; }
    // MSI-X vectors offered for the queues (the transport adds one for configuration
    // changes): one per queue lets the driver give each its own interrupt; fewer makes
    // it share one among them (Linux then asks every queue on each interrupt).
    virtual std::uint16_t queue_vectors() const { return queue_count(); }
    // The kind of the worker thread that serves the queues (its seccomp list, its
    // name), when the device type's default does not fit: a device whose host side runs
    // on the worker (add_host_waits) needs what that side calls. Empty: the default.
    virtual std::string_view worker_kind() const { return {}; }
    // Which of ring_features the device can serve (a kernel data plane may lack some).
    virtual std::uint64_t supported_ring_features() const { return ring_features; }

    // A device whose queues a data plane outside berth serves (vhost-net): the transport
    // runs no worker for it, and instead hands it the queues when the driver sets
    // DRIVER_OK (start_external; an Error puts the device in NEEDS_RESET) and takes them
    // back on reset and at exit (stop_external, which must not throw).
    virtual bool external_data_plane() const { return false; }
    virtual void start_external(memory::GuestMemory&, std::span<const ExternalQueue>) {}
    virtual void stop_external() {}

    // The device-specific configuration structure.
    virtual std::uint32_t config_size() const = 0;
    virtual void read_config(std::uint32_t offset, std::span<std::uint8_t> data) const = 0;
    virtual void write_config(std::uint32_t, std::span<const std::uint8_t>) {}

    // The driver accepted `features` (FEATURES_OK).
    virtual void negotiated(std::uint64_t) {}
    // Serves what the driver made available on queue `index` (pop until empty, push
    // each chain back). Runs on the device's worker thread, never on a vCPU thread.
    // A QueueViolation or GuestMemoryError from the ring puts the device in NEEDS_RESET.
    virtual void process(std::uint16_t index, SplitQueue& queue) = 0;
    // The driver reset the device.
    virtual void reset() {}

    // Host-side sources the worker waits on beside the queues' doorbells, so that host
    // input reaches the guest on the worker itself rather than through a thread of its
    // own and a wake-up (a tap's frames, user-mode NAT's sockets and timers). Before each
    // wait the transport calls add_host_waits(), which appends pollfds to `fds` and may
    // shorten `timeout_ms` (-1: none); after the wait, host_ready() gets the whole array
    // back with its revents (the device finds its entries where it put them) and returns
    // a bit mask of queues to serve now (bit i: process(i, ...), and the interrupt check
    // after it). Both run on the worker only, and host_ready() after every wait, whatever
    // woke it. `queues` gives host_ready() an enabled queue (nullptr: not enabled) to
    // put host input into at once (a frame straight into a receive buffer); it must not
    // let a QueueViolation or GuestMemoryError escape, but leave the input for process(),
    // where the transport handles them.
    using QueueLookup = std::function<SplitQueue*(std::uint16_t index)>;
    virtual void add_host_waits(std::vector<pollfd>& /*fds*/, int& /*timeout_ms*/) {}
    virtual std::uint32_t host_ready(std::span<const pollfd> /*fds*/,
                                     const QueueLookup& /*queues*/) {
        return 0;
    }

    // Snapshots. save_state(): what the model holds beyond the transport's registers and
    // rings, as bytes only the same model reads back (empty: nothing), taken with the
    // worker paused. restore_state(): those bytes, on a restored transport before its
    // worker starts (after negotiated()); throws Error for bytes it cannot use.
    // restored(): the restored machine is about to run (vCPUs included): a device whose
    // host side was made anew may tell the guest so.
    virtual std::vector<std::uint8_t> save_state() const { return {}; }
    virtual void restore_state(std::span<const std::uint8_t>) {}
    virtual void restored() {}

    // Set by the transport: raises the configuration-change interrupt (the device
    // changed its configuration structure). Same locking as the kick.
    void set_config_interrupt(std::function<void()> interrupt) {
        const std::lock_guard lock(kick_mutex_);
        config_interrupt_ = std::move(interrupt);
    }

    // Set by the transport: makes the worker run process(index) soon (for devices
    // with host-side input, such as the console and the network). Host input arrives
    // on threads of its own (a backend's poll loop), which may kick while the
    // transport comes or goes: the mutex keeps them from calling a half-set function.
    void set_kick(std::function<void(std::uint16_t)> kick) {
        const std::lock_guard lock(kick_mutex_);
        kick_ = std::move(kick);
    }

protected:
    void kick(std::uint16_t index) const {
        const std::lock_guard lock(kick_mutex_);
        if (kick_) {
            kick_(index);
        }
    }

    void config_changed() const {
        const std::lock_guard lock(kick_mutex_);
        if (config_interrupt_) {
            config_interrupt_();
        }
    }

private:
    mutable std::mutex kick_mutex_;
    std::function<void(std::uint16_t)> kick_;
    std::function<void()> config_interrupt_;
};

}  // namespace berth::devices::virtio
