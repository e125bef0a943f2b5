#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <poll.h>
#include <unistd.h>

#include "devices/pci/msix.hpp"
#include "devices/virtio/pci_transport.hpp"
#include "devices/virtio/rng.hpp"
#include "tests/unit/byte_compare.hpp"
#include "tests/unit/virtio_pci_driver.hpp"
#include "tests/unit/virtio_ring_builder.hpp"
#include "vmm/common/event_fd.hpp"

using namespace berth::devices::virtio;
using berth::devices::pci::MsiMessage;
using berth::devices::pci::MsiSink;
using berth::test::as_number;
using berth::test::CountingSink;
using berth::test::Driver;
using berth::test::eventually;
using berth::test::RingBuilder;
using berth::test::same_bytes;

namespace {

constexpr std::uint64_t bar = 0xe0000000;

}  // namespace

TEST_CASE("virtio-pci identity and capabilities", "[virtio][pci]") {
    RingBuilder ring;
    CountingSink sink;
    PciTransport transport(ring.memory, std::make_shared<Rng>(), bar, sink);
    auto& config = transport.config();
    CHECK(config.read16(0) == 0x1af4);
    CHECK(config.read16(2) == 0x1044);  // 0x1040 + entropy
    CHECK(config.read8(8) == 1);        // revision 1: modern only
    std::vector<std::uint8_t> vendor_types;
    for (std::uint8_t at = config.read8(0x34); at != 0; at = config.read8(at + 1u)) {
        if (config.read8(at) == 0x09) {
            vendor_types.push_back(config.read8(at + 3u));
            CHECK(config.read8(at + 4u) == 0);  // all in BAR 0
        }
    }
    CHECK(same_bytes(vendor_types,
                     std::vector<std::uint8_t>{1, 2, 3, 5}));  // rng has no device config
    CHECK(config.bar_address(0) == bar);
    CHECK(config.bar_size(0) == bar_size);
}

TEST_CASE("feature negotiation requires VERSION_1 and rejects unknown bits", "[virtio][pci]") {
    RingBuilder ring;
    CountingSink sink;
    PciTransport transport(ring.memory, std::make_shared<Rng>(), bar, sink);
    Driver driver{transport};
    const std::uint64_t offered = driver.device_features();
    CHECK((offered & feature_version_1) != 0);
    CHECK((offered & feature_event_idx) != 0);
    CHECK((offered & feature_indirect_desc) != 0);

    driver.negotiate(0);  // a legacy driver
    CHECK((driver.status() & status_features_ok) == 0);
    driver.negotiate(feature_version_1 | (1ULL << 50));
    CHECK((driver.status() & status_features_ok) == 0);
    driver.negotiate(feature_version_1 | feature_event_idx);
    CHECK((driver.status() & status_features_ok) != 0);
    // Features are frozen after FEATURES_OK.
    driver.set_driver_features(feature_version_1);
    CHECK(transport.driver_features() == (feature_version_1 | feature_event_idx));
    driver.set_status(0);
    CHECK(driver.status() == 0);
    CHECK(transport.driver_features() == 0);
}

TEST_CASE("virtio-rng through the transport: notify, fill, interrupt", "[virtio][pci][rng]") {
    RingBuilder ring;
    CountingSink sink;
    PciTransport transport(ring.memory, std::make_shared<Rng>(), bar, sink);
    Driver driver{transport};
    CHECK(driver.read(0x12, 2) == 1);  // num_queues
    driver.write(0x16, 0, 2);
    CHECK(driver.read(0x18, 2) == 256);  // max queue size
    driver.write(0x16, 1, 2);
    CHECK(driver.read(0x18, 2) == 0);  // no queue 1
    driver.negotiate(feature_version_1 | feature_event_idx);
    driver.enable_msix();
    driver.write(0x10, 0, 2);  // config vector 0
    driver.setup_queue(0, ring, 1);
    CHECK(driver.read(0x1a, 2) == 1);
    driver.set_status(status_acknowledge | status_driver | status_features_ok | status_driver_ok);

    ring.set_desc(0, RingBuilder::data, 4096, desc_flag_write);
    ring.set_used_event(0);
    ring.publish(0);
    driver.write(notify_offset, 0, 2);
    REQUIRE(eventually([&] { return ring.used_idx() == 1; }));
    CHECK(ring.used_element(0).length == 4096);
    std::vector<std::uint8_t> bytes(4096);
    ring.memory.read(RingBuilder::data, bytes);
    CHECK(std::count(bytes.begin(), bytes.end(), 0) < 100);  // random, not zeros
    CHECK(eventually([&] { return sink.count(1) == 1; }));
    CHECK(driver.read(isr_offset, 1) == 1);  // reading acknowledges
    CHECK(driver.read(isr_offset, 1) == 0);
    CHECK((driver.status() & status_needs_reset) == 0);
    driver.set_status(0);
}

TEST_CASE("a broken ring sets NEEDS_RESET and raises the config interrupt", "[virtio][pci]") {
    RingBuilder ring;
    CountingSink sink;
    PciTransport transport(ring.memory, std::make_shared<Rng>(), bar, sink);
    Driver driver{transport};
    driver.negotiate(feature_version_1);
    driver.enable_msix();
    driver.write(0x10, 0, 2);
    driver.setup_queue(0, ring, 1);
    driver.set_status(status_acknowledge | status_driver | status_features_ok | status_driver_ok);
    ring.set_desc(0, RingBuilder::data, 16, desc_flag_write | desc_flag_next, 0);  // loop
    ring.publish(0);
    driver.write(notify_offset, 0, 2);
    REQUIRE(eventually([&] { return (driver.status() & status_needs_reset) != 0; }));
    CHECK(eventually([&] { return sink.count(0) == 1; }));
    CHECK(transport.needs_reset_reason().find("longer than") != std::string::npos);
    CHECK((driver.read(isr_offset, 1) & 2) != 0);
    // The driver resets and starts over.
    driver.set_status(0);
    CHECK(driver.status() == 0);
    CHECK(transport.needs_reset_reason().empty());
}

// Found by tests/fuzz/virtio_pci (its input is in the corpus): DRIVER_OK dropped by a
// status write and set again started a second worker over the first, and the vCPU
// thread waited forever to join the first.
TEST_CASE("only a reset clears status bits: DRIVER_OK twice runs one worker", "[virtio][pci]") {
    RingBuilder ring;
    CountingSink sink;
    PciTransport transport(ring.memory, std::make_shared<Rng>(), bar, sink);
    Driver driver{transport};
    driver.negotiate(feature_version_1);
    driver.enable_msix();
    driver.setup_queue(0, ring, 1);
    const std::uint8_t running =
        status_acknowledge | status_driver | status_features_ok | status_driver_ok;
    driver.set_status(running);
    driver.set_status(status_acknowledge | status_driver | status_features_ok);
    CHECK(driver.status() == running);  // the clear is ignored
    driver.set_status(running);         // returns: no second worker, no join
    ring.set_desc(0, RingBuilder::data, 16, desc_flag_write);
    ring.publish(0);
    driver.write(notify_offset, 0, 2);
    CHECK(eventually([&] { return ring.used_idx() == 1; }));  // the one worker serves
    driver.set_status(0);
    CHECK(driver.status() == 0);
}

// Found by the hostile guest (guest-firmware/hostile): a guest that moves one device's
// BAR onto another's running one and sets DRIVER_OK makes KVM refuse the doorbell's
// ioeventfd (EEXIST). The refusal was thrown out of the status write on the vCPU thread,
// which ended the VM with status 1. The doorbell now stays an MMIO exit to bar_write.
TEST_CASE("a doorbell KVM will not bind still rings through the BAR", "[virtio][pci]") {
    RingBuilder ring;
    CountingSink sink;
    int refused = 0;
    IoEventRegistrar taken = [&refused](std::uint64_t, std::uint32_t,
                                        const berth::EventFd&) -> std::shared_ptr<void> {
        ++refused;
        throw berth::Error("KVM_IOEVENTFD failed: File exists (errno 17)");
    };
    PciTransport transport(ring.memory, std::make_shared<Rng>(), bar, sink, taken);
    Driver driver{transport};
    const std::uint8_t memory_enable[2] = {0x06, 0};
    transport.config_write(0x04, memory_enable);
    driver.negotiate(feature_version_1);
    driver.setup_queue(0, ring, no_vector);
    const std::uint8_t running =
        status_acknowledge | status_driver | status_features_ok | status_driver_ok;
    CHECK_NOTHROW(driver.set_status(running));
    CHECK(refused == 1);
    CHECK(driver.status() == running);
    ring.set_desc(0, RingBuilder::data, 16, desc_flag_write);
    ring.publish(0);
    driver.write(notify_offset, 0, 2);
    CHECK(eventually([&] { return ring.used_idx() == 1; }));
    driver.set_status(0);
    CHECK(driver.status() == 0);
}

// A device of no type in particular with one queue and no features or configuration,
// for the transport's own behaviour.
struct OneQueueDevice : Device {
    DeviceType type() const override { return DeviceType::entropy; }
    std::uint32_t pci_class() const override { return 0xff0000; }
    std::uint64_t features() const override { return 0; }
    std::uint16_t queue_count() const override { return 1; }
    std::uint32_t config_size() const override { return 0; }
    void read_config(std::uint32_t, std::span<std::uint8_t>) const override {}
};

// A device whose ring never runs dry: each chain it returns is made available again at
// once, as a hostile guest can arrange from a second vCPU, or with a virtio-blk read
// whose data lands on the available index. The device's loop over pop() never ended,
// so a reset (and berth's exit) waited forever for the worker on the vCPU thread.
struct EndlessRing : OneQueueDevice {
    explicit EndlessRing(RingBuilder& ring) : ring(ring) {}
    std::string_view name() const override { return "endless"; }
    void process(std::uint16_t, SplitQueue& queue) override {
        while (auto chain = queue.pop()) {
            queue.push_used(chain->head, 0);
            ring.set_avail_idx(static_cast<std::uint16_t>(ring.avail_idx + 1));
            served.fetch_add(1);
        }
    }
    RingBuilder& ring;
    std::atomic<std::uint64_t> served{0};
};

TEST_CASE("a reset stops a worker whose ring never runs dry", "[virtio][pci]") {
    RingBuilder ring;
    CountingSink sink;
    auto device = std::make_shared<EndlessRing>(ring);
    PciTransport transport(ring.memory, device, bar, sink);
    Driver driver{transport};
    driver.negotiate(feature_version_1);
    driver.setup_queue(0, ring, no_vector);
    driver.set_status(status_acknowledge | status_driver | status_features_ok | status_driver_ok);
    ring.set_desc(0, RingBuilder::data, 16, desc_flag_write);
    ring.publish(0);
    driver.write(notify_offset, 0, 2);
    REQUIRE(eventually([&] { return device->served.load() > 1000; }));
    auto reset = std::async(std::launch::async, [&] { driver.set_status(0); });
    REQUIRE(reset.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    CHECK(driver.status() == 0);
    const std::uint64_t after_reset = device->served.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(device->served.load() == after_reset);  // the worker is parked
}

// A device with host-side input of its own (as a tap NIC): an eventfd the worker waits
// on beside the doorbells, and a timer (as user-mode NAT's) that asks to be woken.
struct HostInputDevice : OneQueueDevice {
    std::string_view name() const override { return "host-input"; }
    void add_host_waits(std::vector<pollfd>& fds, int& timeout_ms) override {
        at = fds.size();
        fds.push_back({input.fd(), POLLIN, 0});
        timeout_ms = 5;
    }
    std::uint32_t host_ready(std::span<const pollfd> fds, const QueueLookup&) override {
        rounds.fetch_add(1);
        if ((fds[at].revents & POLLIN) != 0) {
            input.consume();
            waiting.fetch_add(1);
            return 1U << 0;
        }
        return 0;
    }
    // Each input takes one buffer, as a received frame would.
    void process(std::uint16_t, SplitQueue& queue) override {
        for (; waiting.load() > 0; waiting.fetch_sub(1)) {
            auto chain = queue.pop();
            if (!chain) {
                return;
            }
            queue.push_used(chain->head, 1);
        }
    }
    berth::EventFd input;
    std::size_t at = 0;
    std::atomic<int> waiting{0};
    std::atomic<std::uint64_t> rounds{0};
};

TEST_CASE("the worker waits on a device's host input and serves the queue it names",
          "[virtio][pci]") {
    RingBuilder ring;
    CountingSink sink;
    auto device = std::make_shared<HostInputDevice>();
    PciTransport transport(ring.memory, device, bar, sink);
    Driver driver{transport};
    driver.negotiate(feature_version_1);
    driver.enable_msix();
    driver.setup_queue(0, ring, 1);
    driver.set_status(status_acknowledge | status_driver | status_features_ok | status_driver_ok);
    ring.set_desc(0, RingBuilder::data, 16, desc_flag_write);
    ring.set_desc(1, RingBuilder::data + 16, 16, desc_flag_write);
    ring.publish(0);
    ring.publish(1);
    // No doorbell: the host input alone wakes the worker, which serves queue 0 and
    // interrupts the guest.
    device->input.signal();
    REQUIRE(eventually([&] { return ring.used_idx() == 1; }));
    CHECK(eventually([&] { return sink.count(1) == 1; }));
    // The device's timeout wakes the worker too (timers), with nothing ready.
    const std::uint64_t rounds = device->rounds.load();
    CHECK(eventually([&] { return device->rounds.load() > rounds + 3; }));
    CHECK(ring.used_idx() == 1);
    // After a reset the worker is parked: host input waits.
    driver.set_status(0);
    device->input.signal();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(ring.used_idx() == 1);
}

TEST_CASE("enabling a queue outside guest RAM sets NEEDS_RESET", "[virtio][pci]") {
    RingBuilder ring;
    CountingSink sink;
    PciTransport transport(ring.memory, std::make_shared<Rng>(), bar, sink);
    Driver driver{transport};
    driver.negotiate(feature_version_1);
    driver.write(0x16, 0, 2);
    driver.write(0x20, 0xfffffffffff00000ULL, 8);
    driver.write(0x1c, 1, 2);
    CHECK((driver.status() & status_needs_reset) != 0);
    CHECK(driver.read(0x1c, 2) == 0);
    // DRIVER_OK does not start a device that needs a reset.
    driver.set_status(status_acknowledge | status_driver | status_features_ok | status_driver_ok);
    CHECK((driver.status() & status_needs_reset) != 0);
}

TEST_CASE("queue reset returns one queue to its initial state", "[virtio][pci]") {
    RingBuilder ring;
    CountingSink sink;
    PciTransport transport(ring.memory, std::make_shared<Rng>(), bar, sink);
    Driver driver{transport};
    driver.negotiate(feature_version_1 | feature_ring_reset);
    driver.enable_msix();
    driver.setup_queue(0, ring, 1);
    driver.set_status(status_acknowledge | status_driver | status_features_ok | status_driver_ok);
    driver.write(0x16, 0, 2);
    CHECK(driver.read(0x1c, 2) == 1);
    driver.write(0x3a, 1, 2);
    CHECK(driver.read(0x3a, 2) == 0);  // done at once
    CHECK(driver.read(0x1c, 2) == 0);
    CHECK(driver.read(0x1a, 2) == no_vector);
    CHECK(driver.read(0x20, 8) == 0);
    // Set it up again; it works.
    ring.set_avail_idx(0);
    ring.memory.write_object<std::uint16_t>(RingBuilder::used + 2, 0);
    ring.avail_idx = 0;
    driver.setup_queue(0, ring, 1);
    ring.set_desc(0, RingBuilder::data, 64, desc_flag_write);
    ring.publish(0);
    driver.write(notify_offset, 0, 2);
    CHECK(eventually([&] { return ring.used_idx() == 1; }));
    driver.set_status(0);
}

TEST_CASE("a transport's saved state restores into a new one that serves on", "[virtio][pci]") {
    // Snapshots (docs/snapshots.md): the rng device serves one request, its worker is
    // paused and its state read; a second transport on the same guest memory gets the
    // state and serves the next request from the ring position where the first stopped.
    RingBuilder ring;
    CountingSink sink;
    PciTransport original(ring.memory, std::make_shared<Rng>(), bar, sink);
    Driver driver{original};
    driver.negotiate(feature_version_1 | feature_event_idx);
    driver.enable_msix();
    driver.setup_queue(0, ring, 1);
    driver.set_status(status_acknowledge | status_driver | status_features_ok | status_driver_ok);
    ring.set_desc(0, RingBuilder::data, 512, desc_flag_write);
    ring.set_desc(1, RingBuilder::data + 512, 256, desc_flag_write);
    ring.set_used_event(0);
    ring.publish(0);
    driver.write(notify_offset, 0, 2);
    REQUIRE(eventually([&] { return ring.used_idx() == 1; }));
    original.pause_worker();
    const auto state = original.state();
    CHECK(state.status == original.status());
    REQUIRE(state.queues.size() == 1);
    CHECK(state.queues[0].enabled);
    CHECK(state.queues[0].vector == 1);
    CHECK(state.queues[0].position.next_avail == 1);
    CHECK(state.queues[0].position.next_used == 1);
    original.stop();

    struct RoutingSink : CountingSink {
        std::vector<std::uint16_t> routed;
        void route(std::uint16_t vector, const MsiMessage&) override { routed.push_back(vector); }
    } restored_sink;
    PciTransport restored(ring.memory, std::make_shared<Rng>(), bar, restored_sink);
    restored.restore(state);
    CHECK(restored.status() == state.status);
    CHECK(restored.driver_features() == original.driver_features());
    CHECK(same_bytes(restored.config().bytes(), original.config().bytes()));
    CHECK(restored_sink.routed.size() == 2);  // both unmasked vectors routed anew
    Driver again{restored};
    CHECK(again.read(0x1a, 2) == 1);  // queue 0's vector (queue_select was 0)
    ring.set_used_event(1);
    ring.publish(1);
    again.write(notify_offset, 0, 2);
    // Until the machine's interrupt controllers are back (restored()), the queue is not
    // served: an interrupt now would be lost, and the queue wait for it for good.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(ring.used_idx() == 1);
    CHECK(restored_sink.count(1) == 0);
    restored.restored();
    REQUIRE(eventually([&] { return ring.used_idx() == 2; }));
    CHECK(ring.used_element(1).id == 1);
    CHECK(ring.used_element(1).length == 256);
    CHECK(eventually([&] { return restored_sink.count(1) == 1; }));

    // A state that does not fit (another queue count) is refused.
    auto wrong = state;
    wrong.queues.push_back(wrong.queues[0]);
    PciTransport other(ring.memory, std::make_shared<Rng>(), bar, sink);
    CHECK_THROWS_WITH(other.restore(wrong), Catch::Contains("queues"));
    again.set_status(0);
}

namespace {

// A device whose queues something outside the transport serves (as vhost-net's are).
struct ExternalDevice : Device {
    std::string_view name() const override { return "external"; }
    DeviceType type() const override { return DeviceType::net; }
    std::uint32_t pci_class() const override { return 0x020000; }
    std::uint64_t features() const override { return 0; }
    std::uint64_t supported_ring_features() const override {
        return feature_version_1 | feature_event_idx;
    }
    std::uint16_t queue_count() const override { return 2; }
    std::uint32_t config_size() const override { return 0; }
    void read_config(std::uint32_t, std::span<std::uint8_t>) const override {}
    void process(std::uint16_t, SplitQueue&) override { ++processed; }
    bool external_data_plane() const override { return true; }
    void start_external(berth::memory::GuestMemory&,
                        std::span<const ExternalQueue> queues) override {
        started.assign(queues.begin(), queues.end());
        ++starts;
    }
    void stop_external() override { ++stops; }

    std::vector<ExternalQueue> started;
    int starts = 0;
    int stops = 0;
    int processed = 0;
};

struct FdSink : CountingSink {
    std::array<berth::EventFd, 3> events;
    int trigger_fd(std::uint16_t vector) const override { return events.at(vector).fd(); }
};

}  // namespace

TEST_CASE("a device with its own data plane gets its queues, doorbells and irqfds at DRIVER_OK",
          "[virtio][pci]") {
    RingBuilder ring;
    FdSink sink;
    auto device = std::make_shared<ExternalDevice>();
    PciTransport transport(ring.memory, device, bar, sink);
    Driver driver{transport};
    // Only the ring features the device can serve are offered (no queue reset here).
    const std::uint64_t offered = driver.device_features();
    CHECK(offered == (feature_version_1 | feature_event_idx));
    driver.negotiate(feature_version_1 | feature_event_idx);
    driver.enable_msix();
    driver.setup_queue(0, ring, 1);
    driver.setup_queue(1, ring, no_vector);
    CHECK(device->starts == 0);
    driver.set_status(status_acknowledge | status_driver | status_features_ok | status_driver_ok);
    REQUIRE(device->starts == 1);
    REQUIRE(device->started.size() == 2);
    const ExternalQueue& rx = device->started[0];
    CHECK(rx.index == 0);
    CHECK(rx.layout.size == ring.size);
    CHECK(rx.layout.descriptors == RingBuilder::descriptors);
    CHECK(rx.layout.driver_area == RingBuilder::avail);
    CHECK(rx.layout.device_area == RingBuilder::used);
    CHECK(rx.call_fd == sink.events[1].fd());
    CHECK(device->started[1].call_fd == -1);  // no vector, no interrupt
    CHECK(rx.kick_fd != device->started[1].kick_fd);

    // The doorbell bumps the queue's kick eventfd for the data plane; the transport's
    // worker does not serve the queue.
    driver.write(notify_offset, 0, 2);
    std::uint64_t count = 0;
    CHECK(::read(rx.kick_fd, &count, sizeof count) == sizeof count);
    CHECK(count == 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(device->processed == 0);

    // A reset takes the queues back, once.
    driver.set_status(0);
    CHECK(device->stops == 1);
    driver.set_status(0);
    CHECK(device->stops == 1);
}
