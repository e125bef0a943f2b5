#pragma once
// virtio over PCI, the modern (1.x) interface: one PCI function per device with a
// 64-bit memory BAR holding the common configuration, the ISR byte, the
// device-specific configuration, the queue doorbells ("notify") and the MSI-X table
// and PBA, each announced by a vendor capability in configuration space.
//
// Doorbells: when an IoEventRegistrar is given (KVM's ioeventfd), a guest's write to a
// queue's doorbell never leaves the kernel; it bumps the queue's eventfd and the
// device's worker thread wakes. Without one (unit tests), the MMIO write reaches
// bar_write and the transport bumps the eventfd itself.
//
// A device with a data plane of its own (vhost-net: Device::external_data_plane) gets
// its queues, their doorbell eventfds and their MSI-X vectors' irqfds at DRIVER_OK
// instead, and gives them back on reset; the worker then stays parked.
//
// The worker thread serves the queues while the driver has set DRIVER_OK; it is
// stopped (and waited for) on reset and around a queue reset, so the vCPU threads and
// the worker never touch a queue at the same time. The thread itself lives as long as
// the transport, made with it on the thread that builds the machine: one started later
// by a vCPU's write of DRIVER_OK would inherit that vCPU's seccomp filter on top of
// its own (vmm/sandbox/thread_sandbox.hpp). Between runs it waits, parked. A broken ring sets
// DEVICE_NEEDS_RESET and raises the configuration-change interrupt; the rest of the VM runs on.

#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "devices/pci/msix.hpp"
#include "devices/pci/pci_function.hpp"
#include "devices/virtio/device.hpp"
#include "vmm/common/event_fd.hpp"
#include "vmm/common/thread.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace berth::devices::virtio {

inline constexpr std::uint8_t status_acknowledge = 1;
inline constexpr std::uint8_t status_driver = 2;
inline constexpr std::uint8_t status_driver_ok = 4;
inline constexpr std::uint8_t status_features_ok = 8;
inline constexpr std::uint8_t status_needs_reset = 0x40;
inline constexpr std::uint8_t status_failed = 0x80;
inline constexpr std::uint16_t no_vector = 0xffff;

// BAR 0 layout.
inline constexpr std::uint64_t bar_size = 0x8000;
inline constexpr std::uint64_t common_offset = 0x0000;
inline constexpr std::uint64_t common_size = 0x40;
inline constexpr std::uint64_t isr_offset = 0x1000;
inline constexpr std::uint64_t device_config_offset = 0x2000;
inline constexpr std::uint64_t notify_offset = 0x3000;
inline constexpr std::uint32_t notify_multiplier = 4;
inline constexpr std::uint64_t msix_table_offset = 0x4000;
inline constexpr std::uint64_t msix_pba_offset = 0x6000;

// Registers `event` to be signalled by a guest write of `length` bytes to `address`;
// the returned handle undoes it.
using IoEventRegistrar = std::function<std::shared_ptr<void>(
    std::uint64_t address, std::uint32_t length, const EventFd& event)>;

class PciTransport : public pci::PciFunction {
public:
    // `bar_address`: where BAR 0 starts (from PciBus::allocate_bar(bar_size)).
    // `msi`: delivers MSI-X messages; it must have queue_count + 1 vectors.
    PciTransport(memory::GuestMemory& memory, std::shared_ptr<Device> device,
                 std::uint64_t bar_address, pci::MsiSink& msi, IoEventRegistrar registrar = {});
    ~PciTransport() override;

    // Stops the worker and drops the ioeventfds (the machine is going away).
    void stop();

    std::string_view name() const override { return device_->name(); }
    void config_read(std::uint32_t offset, std::span<std::uint8_t> data) override;
    void config_write(std::uint32_t offset, std::span<const std::uint8_t> data) override;
    void bar_read(unsigned bar, std::uint64_t offset, std::span<std::uint8_t> data) override;
    void bar_write(unsigned bar, std::uint64_t offset, std::span<const std::uint8_t> data) override;
    pci::ConfigSpace& config() override { return config_; }

    std::uint8_t status() const { return status_.load(); }
    std::uint64_t offered_features() const { return offered_; }
    std::uint64_t driver_features() const { return driver_features_; }
    // Why the device went to NEEDS_RESET (empty if it did not).
    std::string needs_reset_reason() const;
    static std::uint16_t msix_vectors(const Device& device) {
        return static_cast<std::uint16_t>(device.queue_vectors() + 1);
    }

    // For snapshots. pause_worker() stops the worker once the request it is serving is
    // done (so no request is in flight), the vCPUs being parked; resume_worker() starts
    // it again if the driver had the device running.
    void pause_worker();
    void resume_worker();

    struct QueueState {
        std::uint16_t size = 0;
        std::uint16_t vector = no_vector;
        bool enabled = false;
        QueueLayout layout;
        SplitQueue::Position position;  // of the ring; zero when not enabled
    };
    struct State {
        std::array<std::uint8_t, 256> config{};
        std::vector<pci::MsixTable::VectorState> msix;
        std::uint32_t device_feature_select = 0;
        std::uint32_t driver_feature_select = 0;
        std::uint64_t driver_features = 0;
        std::uint16_t queue_select = 0;
        std::uint8_t status = 0;
        std::uint8_t isr = 0;
        std::uint16_t config_vector = no_vector;
        std::vector<QueueState> queues;
        std::vector<std::uint8_t> device_state;  // Device::save_state()
    };
    // With the worker paused.
    State state();
    // On a transport that the guest has not touched, before the vCPUs run: the
    // configuration space, MSI-X (routes included), the queues, the negotiated features
    // (told to the device). Throws when the state does not fit this device (another
    // queue count, a ring outside RAM).
    void restore(const State& state);
    // The restored machine (vCPUs and interrupt controllers too) is about to run: the
    // worker starts if the driver had the device running, and the device may interrupt
    // the guest now (Device::restored()).
    void restored();

private:
    struct Queue {
        explicit Queue(std::uint16_t max_size) : size(max_size) {}
        std::uint16_t size;
        std::atomic<std::uint16_t> vector{no_vector};
        bool enabled = false;
        QueueLayout layout;
        EventFd notify;
        std::unique_ptr<SplitQueue> ring;
    };

    void common_read(std::uint64_t offset, std::span<std::uint8_t> data);
    void common_write(std::uint64_t offset, std::span<const std::uint8_t> data);
    void write_status(std::uint8_t value);
    void reset_device();
    void reset_queue(Queue& queue);
    void enable_queue(Queue& queue);
    void pci_cfg_access(bool write);

    void start_worker();
    void start_external();
    void stop_worker();
    void worker_loop();
    void worker_main();
    void service(std::uint16_t index);
    void interrupt_queue(std::uint16_t index);
    void interrupt_config();
    void fail(const std::string& reason);

    memory::GuestMemory& memory_;
    std::shared_ptr<Device> device_;
    pci::ConfigSpace config_;
    pci::MsixTable msix_;
    IoEventRegistrar registrar_;
    std::uint64_t offered_;
    std::uint8_t pci_cfg_cap_ = 0;

    std::mutex mutex_;  // the driver-facing registers (vCPU threads)
    std::uint32_t device_feature_select_ = 0;
    std::uint32_t driver_feature_select_ = 0;
    std::uint64_t driver_features_ = 0;
    std::uint16_t queue_select_ = 0;
    std::vector<std::unique_ptr<Queue>> queues_;
    std::atomic<std::uint8_t> status_{0};
    std::atomic<std::uint8_t> isr_{0};
    std::atomic<std::uint16_t> config_vector_{no_vector};

    mutable std::mutex reason_mutex_;
    std::string reason_;

    EventFd stop_event_;
    std::atomic<bool> stopping_{false};
    // The worker's state, under worker_mutex_: asked to serve, serving, asked to end.
    std::mutex worker_mutex_;
    std::condition_variable worker_wake_;
    bool run_requested_ = false;
    bool serving_ = false;
    bool exiting_ = false;
    bool worker_started_ = false;  // start_worker ran and stop_worker has not (vCPU side)
    Thread worker_;
    std::vector<std::shared_ptr<void>> ioeventfds_;
};

}  // namespace berth::devices::virtio
