#include "devices/virtio/pci_transport.hpp"

#include <poll.h>

#include <array>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

namespace berth::devices::virtio {

namespace {

constexpr std::uint16_t virtio_vendor = 0x1af4;
constexpr std::uint16_t modern_device_base = 0x1040;
constexpr std::uint8_t cap_common = 1;
constexpr std::uint8_t cap_notify = 2;
constexpr std::uint8_t cap_isr = 3;
constexpr std::uint8_t cap_device = 4;
constexpr std::uint8_t cap_pci_cfg = 5;
constexpr std::uint32_t device_config_limit = 0x1000;

// The common configuration structure's fields (virtio 1.x, 4.1.4.3).
enum Common : std::uint32_t {
    device_feature_select = 0x00,
    device_feature = 0x04,
    driver_feature_select = 0x08,
    driver_feature = 0x0c,
    config_msix_vector = 0x10,
    num_queues = 0x12,
    device_status = 0x14,
    config_generation = 0x15,
    queue_select = 0x16,
    queue_size = 0x18,
    queue_msix_vector = 0x1a,
    queue_enable = 0x1c,
    queue_notify_off = 0x1e,
    queue_desc = 0x20,
    queue_driver = 0x28,
    queue_device = 0x30,
    queue_notify_data = 0x38,
    queue_reset = 0x3a,
};

void put(std::span<std::uint8_t> bytes, std::uint32_t offset, std::uint64_t value, unsigned width) {
    for (unsigned i = 0; i < width; ++i) {
        bytes[offset + i] = static_cast<std::uint8_t>(value >> (8 * i));
    }
}

std::uint64_t get(std::span<const std::uint8_t> bytes, std::uint32_t offset, unsigned width) {
    std::uint64_t value = 0;
    for (unsigned i = 0; i < width; ++i) {
        value |= static_cast<std::uint64_t>(bytes[offset + i]) << (8 * i);
    }
    return value;
}

// A virtio_pci_cap (16 bytes) or, with `extra`, a notify/pci_cfg capability (20).
std::vector<std::uint8_t> vendor_capability(std::uint8_t type, std::uint64_t offset,
                                            std::uint64_t length,
                                            std::optional<std::uint32_t> extra) {
    std::vector<std::uint8_t> body(extra ? 20 : 16, 0);
    body[0] = pci::capability_vendor;
    body[2] = static_cast<std::uint8_t>(body.size());
    body[3] = type;
    body[4] = 0;  // BAR 0
    put(body, 8, offset, 4);
    put(body, 12, length, 4);
    if (extra) {
        put(body, 16, *extra, 4);
    }
    return body;
}

bool overlaps(std::uint64_t offset, std::size_t size, std::uint32_t field, unsigned width) {
    return offset < field + width && field < offset + size;
}

// The worker thread's kind unless the device names one: its seccomp list's name
// (vmm/sandbox/lists/).
std::string_view worker_kind(DeviceType type) {
    switch (type) {
        case DeviceType::net:
            return "virtio-net";
        case DeviceType::block:
            return "virtio-blk";
        case DeviceType::console:
            return "virtio-console";
        case DeviceType::entropy:
            return "virtio-rng";
    }
    return "virtio";
}

}  // namespace

PciTransport::PciTransport(memory::GuestMemory& memory, std::shared_ptr<Device> device,
                           std::uint64_t bar_address, pci::MsiSink& msi, IoEventRegistrar registrar)
    : memory_(memory),
      device_(std::move(device)),
      config_(pci::Identity{virtio_vendor,
                            static_cast<std::uint16_t>(modern_device_base +
                                                       static_cast<std::uint16_t>(device_->type())),
                            device_->pci_class(), 1, virtio_vendor,
                            static_cast<std::uint16_t>(device_->type())}),
      msix_(msix_vectors(*device_), msi),
      registrar_(std::move(registrar)),
      offered_(device_->features() | (ring_features & device_->supported_ring_features())) {
    if (device_->config_size() > device_config_limit ||
        notify_offset + notify_multiplier * device_->queue_count() > msix_table_offset ||
        msix_.table_bytes() > msix_pba_offset - msix_table_offset) {
        throw Error(fmt::format("{}: too many queues or too large a configuration", name()));
    }
    config_.add_bar(0, pci::BarKind::memory64, bar_size, bar_address);
    config_.add_capability(vendor_capability(cap_common, common_offset, common_size, std::nullopt));
    config_.add_capability(vendor_capability(
        cap_notify, notify_offset, notify_multiplier * device_->queue_count(), notify_multiplier));
    config_.add_capability(vendor_capability(cap_isr, isr_offset, 4, std::nullopt));
    if (device_->config_size() > 0) {
        config_.add_capability(vendor_capability(cap_device, device_config_offset,
                                                 device_->config_size(), std::nullopt));
    }
    // The PCI configuration access window: bar, offset, length and data are writable.
    std::vector<std::uint8_t> writable(20, 0);
    writable[4] = 0xff;
    std::fill(writable.begin() + 8, writable.end(), 0xff);
    pci_cfg_cap_ = config_.add_capability(vendor_capability(cap_pci_cfg, 0, 0, 0u), writable);
    msix_.add_capability(config_, 0, msix_table_offset, msix_pba_offset);

    for (std::uint16_t i = 0; i < device_->queue_count(); ++i) {
        queues_.push_back(std::make_unique<Queue>(device_->max_queue_size()));
    }
    device_->set_kick([this](std::uint16_t index) {
        if (index < queues_.size()) {
            queues_[index]->notify.signal();
        }
    });
    device_->set_config_interrupt([this] { interrupt_config(); });
    const std::string_view kind = device_->worker_kind();
    worker_ = Thread(kind.empty() ? worker_kind(device_->type()) : kind, [this] { worker_loop(); });
}

PciTransport::~PciTransport() {
    device_->set_kick({});
    device_->set_config_interrupt({});
    stop_worker();
    {
        const std::lock_guard lock(worker_mutex_);
        exiting_ = true;
    }
    worker_wake_.notify_all();
    worker_.join();
}

void PciTransport::stop() {
    const std::lock_guard lock(mutex_);
    stop_worker();
}

std::string PciTransport::needs_reset_reason() const {
    const std::lock_guard lock(reason_mutex_);
    return reason_;
}

// --- snapshots ------------------------------------------------------------------------

void PciTransport::pause_worker() {
    const std::lock_guard lock(mutex_);
    stop_worker();
}

void PciTransport::resume_worker() {
    const std::lock_guard lock(mutex_);
    const std::uint8_t status = status_.load();
    if ((status & status_driver_ok) != 0 && (status & status_features_ok) != 0 &&
        (status & status_needs_reset) == 0) {
        start_worker();
    }
}

PciTransport::State PciTransport::state() {
    const std::lock_guard lock(mutex_);
    State state;
    state.config = config_.bytes();
    state.msix = msix_.state();
    state.device_feature_select = device_feature_select_;
    state.driver_feature_select = driver_feature_select_;
    state.driver_features = driver_features_;
    state.queue_select = queue_select_;
    state.status = status_.load();
    state.isr = isr_.load();
    state.config_vector = config_vector_.load();
    state.device_state = device_->save_state();
    for (const auto& queue : queues_) {
        QueueState saved{queue->size, queue->vector.load(), queue->enabled, queue->layout, {}};
        if (queue->ring) {
            saved.position = queue->ring->position();
        }
        state.queues.push_back(saved);
    }
    return state;
}

void PciTransport::restore(const State& state) {
    const std::lock_guard lock(mutex_);
    if (state.queues.size() != queues_.size()) {
        throw Error(fmt::format("{}: the snapshot has {} queues, the device {}", name(),
                                state.queues.size(), queues_.size()));
    }
    config_.restore_bytes(state.config);
    msix_.restore(state.msix);
    msix_.update_control(config_);
    device_feature_select_ = state.device_feature_select;
    driver_feature_select_ = state.driver_feature_select;
    driver_features_ = state.driver_features;
    queue_select_ = state.queue_select;
    isr_ = state.isr;
    config_vector_ = state.config_vector;
    if ((state.status & status_features_ok) != 0) {
        device_->negotiated(driver_features_);
    }
    status_ = state.status;
    for (std::size_t i = 0; i < queues_.size(); ++i) {
        Queue& queue = *queues_[i];
        const QueueState& saved = state.queues[i];
        if (saved.size > device_->max_queue_size()) {
            throw Error(fmt::format("{}: queue {} of size {} is more than the device's {}", name(),
                                    i, saved.size, device_->max_queue_size()));
        }
        queue.size = saved.size;
        queue.vector = saved.vector;
        queue.layout = saved.layout;
        queue.enabled = false;
        queue.ring.reset();
        if (saved.enabled) {
            QueueLayout layout = saved.layout;
            layout.size = saved.size;
            queue.ring = std::make_unique<SplitQueue>(
                memory_, layout,
                (driver_features_ & feature_event_idx) != 0 ? EventIdx::on : EventIdx::off,
                (driver_features_ & feature_indirect_desc) != 0 ? IndirectDescriptors::on
                                                                : IndirectDescriptors::off);
            queue.ring->set_position(saved.position);
            queue.ring->stop_on(&stopping_);
            queue.enabled = true;
        }
    }
    device_->restore_state(state.device_state);
    // The worker starts in restored(), not here: it may interrupt the guest at once (a
    // frame the new tap received meanwhile), and the local APICs are not back yet, so
    // KVM_SET_LAPIC would wipe that interrupt; the queue, having signalled, would wait
    // for a used_event the driver never moves -- its receive path dead for good.
}

// --- configuration space -------------------------------------------------------------

void PciTransport::config_read(std::uint32_t offset, std::span<std::uint8_t> data) {
    if (overlaps(offset, data.size(), pci_cfg_cap_ + 16u, 4)) {
        pci_cfg_access(false);
    }
    config_.read(offset, data);
}

void PciTransport::config_write(std::uint32_t offset, std::span<const std::uint8_t> data) {
    config_.write(offset, data);
    msix_.update_control(config_);
    if (overlaps(offset, data.size(), pci_cfg_cap_ + 16u, 4)) {
        pci_cfg_access(true);
    }
}

// VIRTIO_PCI_CAP_PCI_CFG: a window into BAR 0 through configuration space, for
// drivers that cannot map the BAR yet.
void PciTransport::pci_cfg_access(bool write) {
    const std::uint8_t bar = config_.read8(pci_cfg_cap_ + 4u);
    const std::uint32_t offset = config_.read32(pci_cfg_cap_ + 8u);
    const std::uint32_t length = config_.read32(pci_cfg_cap_ + 12u);
    if (bar != 0 || (length != 1 && length != 2 && length != 4) || offset > bar_size - length) {
        return;
    }
    std::array<std::uint8_t, 4> window{};
    config_.read(pci_cfg_cap_ + 16u, window);
    if (write) {
        bar_write(0, offset, std::span(window).first(length));
    } else {
        bar_read(0, offset, std::span(window).first(length));
        config_.poke(pci_cfg_cap_ + 16u, window);
    }
}

// --- BAR 0 ---------------------------------------------------------------------------

void PciTransport::bar_read(unsigned bar, std::uint64_t offset, std::span<std::uint8_t> data) {
    std::fill(data.begin(), data.end(), 0);
    if (bar != 0) {
        return;
    }
    if (offset < common_offset + common_size) {
        common_read(offset, data);
    } else if (offset >= isr_offset && offset < isr_offset + 4) {
        // Reading the ISR acknowledges the interrupt (clears it).
        if (offset == isr_offset) {
            data[0] = isr_.exchange(0);
        }
    } else if (offset >= device_config_offset &&
               offset - device_config_offset < device_->config_size()) {
        const std::uint64_t at = offset - device_config_offset;
        const std::size_t count = std::min<std::uint64_t>(data.size(), device_->config_size() - at);
        device_->read_config(static_cast<std::uint32_t>(at), data.first(count));
    } else if (offset >= msix_table_offset && offset < msix_pba_offset) {
        msix_.table_read(offset - msix_table_offset, data);
    } else if (offset >= msix_pba_offset) {
        msix_.pba_read(offset - msix_pba_offset, data);
    }
}

void PciTransport::bar_write(unsigned bar, std::uint64_t offset,
                             std::span<const std::uint8_t> data) {
    if (bar != 0) {
        return;
    }
    if (offset < common_offset + common_size) {
        common_write(offset, data);
    } else if (offset >= device_config_offset &&
               offset - device_config_offset < device_->config_size()) {
        device_->write_config(static_cast<std::uint32_t>(offset - device_config_offset), data);
    } else if (offset >= notify_offset && offset < msix_table_offset) {
        // Only reached without ioeventfd (or for a write width KVM did not match).
        const std::uint64_t index = (offset - notify_offset) / notify_multiplier;
        if (index < queues_.size()) {
            queues_[index]->notify.signal();
        }
    } else if (offset >= msix_table_offset && offset < msix_pba_offset) {
        msix_.table_write(offset - msix_table_offset, data);
    }
}

// --- common configuration ------------------------------------------------------------

void PciTransport::common_read(std::uint64_t offset, std::span<std::uint8_t> data) {
    std::array<std::uint8_t, common_size> bytes{};
    {
        const std::lock_guard lock(mutex_);
        const std::uint64_t features =
            device_feature_select_ < 2 ? offered_ >> (32 * device_feature_select_) : 0;
        put(bytes, device_feature_select, device_feature_select_, 4);
        put(bytes, device_feature, static_cast<std::uint32_t>(features), 4);
        put(bytes, driver_feature_select, driver_feature_select_, 4);
        put(bytes, driver_feature,
            driver_feature_select_ < 2
                ? static_cast<std::uint32_t>(driver_features_ >> (32 * driver_feature_select_))
                : 0,
            4);
        put(bytes, config_msix_vector, config_vector_.load(), 2);
        put(bytes, num_queues, queues_.size(), 2);
        put(bytes, device_status, status_.load(), 1);
        put(bytes, config_generation, 0, 1);
        put(bytes, queue_select, queue_select_, 2);
        if (queue_select_ < queues_.size()) {
            const Queue& queue = *queues_[queue_select_];
            put(bytes, queue_size, queue.size, 2);
            put(bytes, queue_msix_vector, queue.vector.load(), 2);
            put(bytes, queue_enable, queue.enabled ? 1 : 0, 2);
            put(bytes, queue_notify_off, queue_select_, 2);
            put(bytes, queue_desc, queue.layout.descriptors, 8);
            put(bytes, queue_driver, queue.layout.driver_area, 8);
            put(bytes, queue_device, queue.layout.device_area, 8);
        }
    }
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = offset + i < bytes.size() ? bytes[offset + i] : 0;
    }
}

void PciTransport::common_write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    if (offset + data.size() > common_size) {
        return;
    }
    const std::lock_guard lock(mutex_);
    const bool features_locked = (status_.load() & status_features_ok) != 0;
    auto field = [&](std::uint32_t at, unsigned width) -> std::optional<std::uint64_t> {
        if (offset != at || data.size() != width) {
            return std::nullopt;  // the spec asks for naturally sized accesses
        }
        return get(data, 0, width);
    };
    Queue* queue = queue_select_ < queues_.size() ? queues_[queue_select_].get() : nullptr;
    const bool queue_writable = queue != nullptr && !queue->enabled;
    auto vector_or_none = [&](std::uint64_t vector) {
        return vector < msix_.vectors() ? static_cast<std::uint16_t>(vector) : no_vector;
    };
    // 64-bit queue addresses arrive as two 32-bit halves.
    auto set_half = [&](std::uint64_t& target, std::uint32_t base) {
        if (offset == base && data.size() == 8) {
            target = get(data, 0, 8);
        } else if ((offset == base || offset == base + 4) && data.size() == 4) {
            const unsigned shift = offset == base ? 0 : 32;
            target = (target & ~(0xffffffffULL << shift)) | get(data, 0, 4) << shift;
        }
    };

    if (auto v = field(device_feature_select, 4)) {
        device_feature_select_ = static_cast<std::uint32_t>(*v);
    } else if (auto v = field(driver_feature_select, 4)) {
        driver_feature_select_ = static_cast<std::uint32_t>(*v);
    } else if (auto v = field(driver_feature, 4)) {
        if (!features_locked && driver_feature_select_ < 2) {
            const unsigned shift = 32 * driver_feature_select_;
            driver_features_ = (driver_features_ & ~(0xffffffffULL << shift)) | *v << shift;
        }
    } else if (auto v = field(config_msix_vector, 2)) {
        config_vector_ = vector_or_none(*v);
    } else if (auto v = field(device_status, 1)) {
        write_status(static_cast<std::uint8_t>(*v));
    } else if (auto v = field(queue_select, 2)) {
        queue_select_ = static_cast<std::uint16_t>(*v);
    } else if (auto v = field(queue_size, 2)) {
        if (queue_writable) {
            queue->size = static_cast<std::uint16_t>(*v);
        }
    } else if (auto v = field(queue_msix_vector, 2)) {
        if (queue != nullptr) {
            queue->vector = vector_or_none(*v);
        }
    } else if (auto v = field(queue_enable, 2)) {
        if (queue != nullptr && *v == 1) {
            enable_queue(*queue);
        }
    } else if (auto v = field(queue_reset, 2)) {
        if (queue != nullptr && *v == 1 && (driver_features_ & feature_ring_reset) != 0) {
            const bool running = worker_started_;
            stop_worker();
            reset_queue(*queue);
            if (running) {
                start_worker();
            }
        }
    } else if (queue_writable) {
        set_half(queue->layout.descriptors, queue_desc);
        set_half(queue->layout.driver_area, queue_driver);
        set_half(queue->layout.device_area, queue_device);
    }
}

void PciTransport::write_status(std::uint8_t value) {
    if (value == 0) {
        reset_device();
        return;
    }
    const std::uint8_t old = status_.load();
    // Only a reset (0) clears bits: a driver must not clear any other way (virtio 1.2,
    // 2.1.2), and a hostile one that dropped DRIVER_OK and set it again would otherwise
    // start a second worker over the running one. NEEDS_RESET is the device's to set.
    value = static_cast<std::uint8_t>((value & ~status_needs_reset) | old);
    if ((value & status_features_ok) != 0 && (old & status_features_ok) == 0) {
        const bool acceptable =
            (driver_features_ & ~offered_) == 0 && (driver_features_ & feature_version_1) != 0;
        if (acceptable) {
            device_->negotiated(driver_features_);
        } else {
            value = static_cast<std::uint8_t>(value & ~status_features_ok);
        }
    }
    status_ = value;
    const bool go = (value & status_driver_ok) != 0 && (old & status_driver_ok) == 0;
    if (go && (value & status_features_ok) != 0 && (value & status_needs_reset) == 0) {
        start_worker();
    }
}

void PciTransport::reset_device() {
    stop_worker();
    for (auto& queue : queues_) {
        reset_queue(*queue);
    }
    device_feature_select_ = driver_feature_select_ = 0;
    driver_features_ = 0;
    queue_select_ = 0;
    config_vector_ = no_vector;
    isr_ = 0;
    {
        const std::lock_guard lock(reason_mutex_);
        reason_.clear();
    }
    device_->reset();
    status_ = 0;
}

void PciTransport::reset_queue(Queue& queue) {
    queue.ring.reset();
    queue.enabled = false;
    queue.size = device_->max_queue_size();
    queue.vector = no_vector;
    queue.layout = {};
    queue.notify.consume();
}

void PciTransport::enable_queue(Queue& queue) {
    if (queue.enabled) {
        return;
    }
    if ((status_.load() & status_features_ok) == 0) {
        fail("a queue was enabled before feature negotiation finished");
        return;
    }
    QueueLayout layout = queue.layout;
    layout.size = queue.size;
    try {
        if (queue.size > device_->max_queue_size()) {
            throw QueueViolation(fmt::format("queue size {} is more than the device's {}",
                                             queue.size, device_->max_queue_size()));
        }
        queue.ring = std::make_unique<SplitQueue>(
            memory_, layout,
            (driver_features_ & feature_event_idx) != 0 ? EventIdx::on : EventIdx::off,
            (driver_features_ & feature_indirect_desc) != 0 ? IndirectDescriptors::on
                                                            : IndirectDescriptors::off);
    } catch (const std::exception& e) {
        fail(e.what());
        return;
    }
    queue.ring->stop_on(&stopping_);
    queue.enabled = true;
    if (worker_started_) {  // enabled again after a queue reset while running
        stop_worker();
        start_worker();
    }
}

// --- the worker ----------------------------------------------------------------------

void PciTransport::start_worker() {
    stop_worker();  // at most one worker: a running one is stopped and joined first
    stopping_ = false;
    stop_event_.consume();
    if (registrar_ && config_.memory_enabled()) {
        const std::uint64_t base = config_.bar_address(0) + notify_offset;
        for (std::size_t i = 0; i < queues_.size(); ++i) {
            if (!queues_[i]->enabled) {
                continue;
            }
            // The guest places the BAR: on top of another device's running doorbells
            // KVM refuses a second ioeventfd for the same address (EEXIST). That is the
            // guest's own mess, not a reason to end the VM from this vCPU thread: the
            // doorbell then exits to bar_write, which signals the queue all the same.
            try {
                ioeventfds_.push_back(
                    registrar_(base + notify_multiplier * i, 2, queues_[i]->notify));
            } catch (const Error&) {
            }
        }
    }
    worker_started_ = true;
    if (device_->external_data_plane()) {
        start_external();
        return;
    }
    {
        const std::lock_guard lock(worker_mutex_);
        run_requested_ = true;
        serving_ = true;
    }
    worker_wake_.notify_all();
}

// The queues go to the device's own data plane, kicked by the doorbells' eventfds (bound
// above) and raising each queue's vector through the MSI sink's eventfd.
void PciTransport::start_external() {
    std::vector<ExternalQueue> queues;
    for (std::uint16_t i = 0; i < queues_.size(); ++i) {
        const Queue& queue = *queues_[i];
        if (!queue.enabled) {
            continue;
        }
        ExternalQueue external{i, queue.layout, queue.notify.fd(), -1};
        external.layout.size = queue.size;
        const std::uint16_t vector = queue.vector.load();
        if (vector != no_vector) {
            external.call_fd = msix_.trigger_fd(vector);
        }
        queues.push_back(external);
    }
    try {
        device_->start_external(memory_, queues);
    } catch (const std::exception& e) {
        device_->stop_external();
        fail(e.what());
    }
}

void PciTransport::stop_worker() {
    if (worker_started_ && device_->external_data_plane()) {
        device_->stop_external();
        worker_started_ = false;
    } else if (worker_started_) {
        stopping_ = true;
        stop_event_.signal();
        std::unique_lock lock(worker_mutex_);
        worker_wake_.wait(lock, [this] { return !serving_; });
        worker_started_ = false;
    }
    ioeventfds_.clear();
}

// The worker thread's life: parked until start_worker asks, serving until stopped (or
// the device needs a reset), parked again; until the transport goes.
void PciTransport::worker_loop() {
    for (;;) {
        {
            std::unique_lock lock(worker_mutex_);
            worker_wake_.wait(lock, [this] { return run_requested_ || exiting_; });
            if (exiting_) {
                return;
            }
            run_requested_ = false;
        }
        worker_main();
        {
            const std::lock_guard lock(worker_mutex_);
            serving_ = false;
        }
        worker_wake_.notify_all();
    }
}

void PciTransport::worker_main() {
    std::vector<pollfd> fds{{stop_event_.fd(), POLLIN, 0}};
    std::vector<std::uint16_t> indices;
    for (std::uint16_t i = 0; i < queues_.size(); ++i) {
        if (queues_[i]->enabled) {
            fds.push_back({queues_[i]->notify.fd(), POLLIN, 0});
            indices.push_back(i);
        }
    }
    const std::size_t own_fds = fds.size();
    const Device::QueueLookup enabled_queue = [this](std::uint16_t index) -> SplitQueue* {
        return index < queues_.size() && queues_[index]->enabled ? queues_[index]->ring.get()
                                                                 : nullptr;
    };
    // Buffers made available before DRIVER_OK (or before a restart) count too.
    for (const std::uint16_t index : indices) {
        service(index);
    }
    while (!stopping_ && (status_.load() & status_needs_reset) == 0) {
        // The device's host-side sources (Device::add_host_waits) follow the doorbells;
        // they may change from one wait to the next (a tap is left alone while the guest
        // has no buffers for its frames).
        fds.resize(own_fds);
        int timeout_ms = -1;
        device_->add_host_waits(fds, timeout_ms);
        if (::poll(fds.data(), fds.size(), timeout_ms) < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail(errno_message("poll failed", errno));
            return;
        }
        for (std::size_t k = 0; k < indices.size() && !stopping_; ++k) {
            if ((fds[k + 1].revents & POLLIN) != 0) {
                queues_[indices[k]]->notify.consume();
                service(indices[k]);
            }
        }
        if (stopping_) {
            break;
        }
        const std::uint32_t wanted = device_->host_ready(fds, enabled_queue);
        for (const std::uint16_t index : indices) {
            if (index < 32 && (wanted & (1U << index)) != 0) {
                service(index);
            }
        }
    }
}

void PciTransport::service(std::uint16_t index) {
    if ((status_.load() & status_needs_reset) != 0) {
        return;
    }
    SplitQueue& ring = *queues_[index]->ring;
    try {
        for (;;) {
            const std::uint16_t before = ring.next_avail();
            device_->process(index, ring);
            if (ring.should_interrupt()) {
                interrupt_queue(index);
            }
            // Go round again for buffers that arrived meanwhile, unless the device left
            // them on purpose (a console receive queue with no input to give) or the
            // worker is asked to stop (pop() then finds nothing; the buffers are served
            // when the worker starts again).
            if (stopping_ || !ring.enable_notifications() || ring.next_avail() == before) {
                break;
            }
        }
    } catch (const std::exception& e) {
        fail(fmt::format("queue {}: {}", index, e.what()));
    }
}

void PciTransport::interrupt_queue(std::uint16_t index) {
    isr_ |= 1;
    const std::uint16_t vector = queues_[index]->vector.load();
    if (vector != no_vector) {
        msix_.signal(vector);
    }
}

void PciTransport::fail(const std::string& reason) {
    {
        const std::lock_guard lock(reason_mutex_);
        if (!reason_.empty()) {
            return;
        }
        reason_ = reason;
    }
    std::fprintf(stderr, "berth: %.*s: %s; the device needs a reset\r\n",
                 static_cast<int>(name().size()), name().data(), reason.c_str());
    status_ |= status_needs_reset;
    interrupt_config();
}

void PciTransport::interrupt_config() {
    isr_ |= 2;
    const std::uint16_t vector = config_vector_.load();
    if (vector != no_vector) {
        msix_.signal(vector);
    }
}

void PciTransport::restored() {
    // The worker serves every enabled queue once as it starts: a doorbell the guest
    // rang just before the snapshot is not lost.
    resume_worker();
    device_->restored();
}

}  // namespace berth::devices::virtio
