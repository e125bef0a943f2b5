// A virtio-net PCI function saved and restored mid-traffic, as `vm ctl snapshot` and
// `vm run --restore` do it (docs/snapshots.md): receive buffers held for a frame that
// did not fit, transmit chains returned, a control command answered. The restored
// transport must leave the guest's rings exactly as the guest last saw them, serve on
// from the same positions, and ask the guest to announce itself.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "devices/virtio/net.hpp"
#include "devices/virtio/pci_transport.hpp"
#include "tests/unit/byte_compare.hpp"
#include "tests/unit/virtio_net_backend.hpp"
#include "tests/unit/virtio_pci_driver.hpp"

using namespace berth::devices::virtio;
using namespace berth::test;

namespace {

constexpr std::uint64_t bar = 0xe0000000;
constexpr std::uint16_t queue_size = 16;
constexpr std::uint64_t rings_start = 0x10000;  // three rings, 0x4000 apart
constexpr std::uint64_t rings_end = 0x1c000;
constexpr std::uint64_t buffers = 0x40000;

// One split ring of a guest RAM that several rings share (a RingBuilder owns its RAM).
struct Ring {
    berth::memory::GuestRam& memory;
    std::uint64_t base;
    std::uint16_t avail_idx = 0;

    QueueLayout layout() const { return {queue_size, base, base + 0x1000, base + 0x2000}; }
    void set_desc(std::uint16_t index, std::uint64_t address, std::uint32_t length,
                  std::uint16_t flags = 0, std::uint16_t next = 0) {
        memory.write_object(base + 16ULL * index, Descriptor{address, length, flags, next});
    }
    void publish(std::uint16_t head) {
        memory.write_object<std::uint16_t>(base + 0x1004 + 2ULL * (avail_idx % queue_size), head);
        ++avail_idx;
        memory.write_object<std::uint16_t>(base + 0x1002, avail_idx);
    }
    std::uint16_t used_idx() const { return memory.read_object<std::uint16_t>(base + 0x2002); }
    UsedElement used_element(std::uint16_t slot) const {
        return memory.read_object<UsedElement>(base + 0x2004 + 8ULL * (slot % queue_size));
    }
};

std::span<const std::uint8_t> header_bytes(const NetHeader& header) {
    return {reinterpret_cast<const std::uint8_t*>(&header), sizeof header};
}

// The guest's side: RAM, three rings, and the driver's register accesses.
struct Guest {
    Guest() { memory.add_ram(0, RingBuilder::ram_size); }

    // The driver's bring-up as Linux does it with the NIC's two vectors: MSI-X
    // (configuration changes on vector 0, every queue on vector 1), the features, the
    // three queues, DRIVER_OK.
    void bring_up(PciTransport& transport) {
        Driver driver{transport};
        driver.negotiate(features);
        driver.enable_msix(2);
        driver.write(0x10, 0, 2);  // msix_config
        for (std::uint16_t i = 0; i < 3; ++i) {
            driver.setup_queue(i, rings[i].layout(), 1);
        }
        driver.set_status(status_acknowledge | status_driver | status_features_ok |
                          status_driver_ok);
    }
    void notify(PciTransport& transport, std::uint16_t queue) {
        Driver{transport}.write(notify_offset + notify_multiplier * queue, queue, 2);
    }

    // A frame in two descriptors (header, then the frame), as Linux posts it.
    void post_transmit(std::uint16_t head, std::span<const std::uint8_t> frame) {
        const std::uint64_t at = buffers + 0x1000ULL * head;
        memory.write(at, header_bytes(NetHeader{}));
        memory.write(at + sizeof(NetHeader), frame);
        tx().set_desc(head, at, sizeof(NetHeader), desc_flag_next,
                      static_cast<std::uint16_t>(head + 1));
        tx().set_desc(static_cast<std::uint16_t>(head + 1), at + sizeof(NetHeader),
                      static_cast<std::uint32_t>(frame.size()));
        tx().publish(head);
    }
    void post_receive(std::uint16_t head, std::uint32_t length) {
        rx().set_desc(head, receive_buffer(head), length, desc_flag_write);
        rx().publish(head);
    }
    static std::uint64_t receive_buffer(std::uint16_t head) {
        return buffers + 0x20000 + 0x1000ULL * head;
    }
    // ANNOUNCE_ACK: class and command readable, the ack byte (0xee until answered) writable.
    void post_announce_ack(std::uint16_t head) {
        const std::uint64_t at = buffers + 0x40000 + 0x100ULL * head;
        memory.write(at, std::vector<std::uint8_t>{net_ctrl_class_announce, net_ctrl_announce_ack});
        memory.write_object<std::uint8_t>(at + 0x80, 0xee);
        ctrl().set_desc(head, at, 2, desc_flag_next, static_cast<std::uint16_t>(head + 1));
        ctrl().set_desc(static_cast<std::uint16_t>(head + 1), at + 0x80, 1, desc_flag_write);
        ctrl().publish(head);
    }
    std::uint8_t ack(std::uint16_t head) const {
        return memory.read_object<std::uint8_t>(buffers + 0x40000 + 0x100ULL * head + 0x80);
    }
    std::vector<std::uint8_t> rings_bytes() const {
        std::vector<std::uint8_t> bytes(rings_end - rings_start);
        memory.read(rings_start, bytes);
        return bytes;
    }

    Ring& rx() { return rings[0]; }
    Ring& tx() { return rings[1]; }
    Ring& ctrl() { return rings[2]; }

    static constexpr std::uint64_t features = feature_version_1 | feature_event_idx |
                                              net_feature_mrg_rxbuf | net_feature_ctrl_vq |
                                              net_feature_guest_announce;
    berth::memory::GuestRam memory;
    std::array<Ring, 3> rings{Ring{memory, rings_start}, Ring{memory, rings_start + 0x4000},
                              Ring{memory, rings_start + 0x8000}};
};

}  // namespace

TEST_CASE("a virtio-net function's queues share one MSI-X vector", "[virtio][net]") {
    Guest guest;
    FakeBackend::State backend;
    auto net = std::make_shared<Net>(std::make_unique<FakeBackend>(backend), test_mac, "net");
    CountingSink sink;
    PciTransport transport(guest.memory, net, bar, sink);
    // Two vectors: configuration changes and the queues, so Linux gives all queues the
    // second.
    CHECK(Driver{transport}.msix_table_size() == 2);

    guest.bring_up(transport);
    guest.post_receive(0, 2000);
    guest.notify(transport, net_receive_queue);
    guest.post_transmit(0, make_frame(100, 1));
    guest.notify(transport, net_transmit_queue);
    REQUIRE(eventually([&] { return guest.tx().used_idx() == 1; }));
    backend.receive(make_frame(100, 2));
    REQUIRE(eventually([&] { return guest.rx().used_idx() == 1; }));
    CHECK(eventually([&] { return sink.count(1) >= 1; }));
    CHECK(sink.count(0) == 0);
    CHECK(sink.count(2) == 0);
}

TEST_CASE("a virtio-net function restored mid-traffic serves on where it stopped",
          "[virtio][net][snapshot]") {
    Guest guest;
    FakeBackend::State backend;
    auto net = std::make_shared<Net>(std::make_unique<FakeBackend>(backend), test_mac, "net");
    CountingSink sink;
    auto original = std::make_unique<PciTransport>(guest.memory, net, bar, sink);
    guest.bring_up(*original);

    // Traffic before the snapshot: three frames sent (heads 0, 2, 4 of two descriptors
    // each), one control command answered, and two 400-byte receive buffers held for a
    // 1000-byte frame that needs three.
    for (std::uint16_t head : {0, 2, 4}) {
        guest.post_transmit(head, make_frame(100 + head, static_cast<std::uint8_t>(head)));
    }
    guest.notify(*original, net_transmit_queue);
    guest.post_announce_ack(0);
    guest.notify(*original, net_control_queue);
    guest.post_receive(0, 400);
    guest.post_receive(1, 400);
    guest.notify(*original, net_receive_queue);
    REQUIRE(eventually([&] { return guest.tx().used_idx() == 3; }));
    REQUIRE(eventually([&] { return guest.ctrl().used_idx() == 1; }));
    backend.receive(make_frame(1000, 1));
    // The device has taken both receive buffers once it asks to be told of a third.
    REQUIRE(eventually([&] {
        return guest.memory.read_object<std::uint16_t>(guest.rx().layout().device_area + 4 +
                                                       8 * queue_size) == 2;
    }));

    original->pause_worker();
    const PciTransport::State state = original->state();
    const std::vector<std::uint8_t> rings_before = guest.rings_bytes();
    REQUIRE(state.queues.size() == 3);
    CHECK(state.queues[net_receive_queue].position.next_avail == 2);
    CHECK(state.queues[net_receive_queue].position.next_used == 0);
    CHECK(state.queues[net_transmit_queue].position.next_avail == 3);
    CHECK(state.queues[net_transmit_queue].position.next_used == 3);
    CHECK(state.queues[net_control_queue].position.next_avail == 1);
    CHECK(state.queues[net_control_queue].position.next_used == 1);
    CHECK(backend.sent.size() == 3);
    original->stop();
    original.reset();

    // The restore: a new device with a new backend, on the same RAM.
    FakeBackend::State new_backend;
    auto restored_net =
        std::make_shared<Net>(std::make_unique<FakeBackend>(new_backend), test_mac, "net");
    CountingSink new_sink;
    PciTransport restored(guest.memory, restored_net, bar, new_sink);
    restored.restore(state);
    // The machine runs again (the worker starts now, not in restore(): see there), and
    // the guest is asked to announce itself on vector 0.
    restored.restored();

    // The guest's rings are the guest's: the restore changed no byte of them (the used
    // indices above all, which a driver polls without waiting for an interrupt).
    CHECK(same_bytes(guest.rings_bytes(), rings_before));
    CHECK(guest.tx().used_idx() == 3);
    CHECK(guest.ctrl().used_idx() == 1);
    CHECK(guest.rx().used_idx() == 0);
    const PciTransport::State again = restored.state();
    for (std::size_t i = 0; i < 3; ++i) {
        INFO("queue " << i);
        CHECK(again.queues[i].enabled);
        CHECK(again.queues[i].position.next_avail == state.queues[i].position.next_avail);
        CHECK(again.queues[i].position.next_used == state.queues[i].position.next_used);
        CHECK(again.queues[i].position.last_signalled_used ==
              state.queues[i].position.last_signalled_used);
    }
    CHECK(again.device_state == state.device_state);  // the held heads, 0 and 1

    // The next frame the driver sends is the next one used, once.
    const auto frame = make_frame(300, 9);
    guest.post_transmit(6, frame);
    guest.notify(restored, net_transmit_queue);
    REQUIRE(eventually([&] { return guest.tx().used_idx() == 4; }));
    CHECK(guest.tx().used_element(3).id == 6);
    for (std::uint16_t slot = 0; slot < 3; ++slot) {
        CHECK(guest.tx().used_element(slot).id == 2 * slot);  // untouched
    }

    // A frame through the new backend takes the two held buffers and one posted now.
    const auto incoming = make_frame(1000, 2);
    new_backend.receive(incoming);
    guest.post_receive(2, 400);
    guest.notify(restored, net_receive_queue);
    REQUIRE(eventually([&] { return guest.rx().used_idx() == 3; }));
    for (std::uint16_t slot = 0; slot < 3; ++slot) {
        CHECK(guest.rx().used_element(slot).id == slot);
    }
    CHECK(guest.memory.read_object<NetHeader>(Guest::receive_buffer(0)).num_buffers == 3);
    std::vector<std::uint8_t> start(388);
    guest.memory.read(Guest::receive_buffer(0) + sizeof(NetHeader), start);
    CHECK(same_bytes(start, std::span(incoming).first(388)));

    // The announcement, and the guest's acknowledgement through the control queue
    // clears the request.
    CHECK(eventually([&] { return new_sink.count(0) == 1; }));
    Driver driver{restored};
    CHECK((driver.read(device_config_offset + 6, 2) & net_status_announce) != 0);
    guest.post_announce_ack(2);
    guest.notify(restored, net_control_queue);
    REQUIRE(eventually([&] { return guest.ctrl().used_idx() == 2; }));
    CHECK(guest.ctrl().used_element(1).id == 2);
    CHECK(guest.ack(2) == net_ctrl_ok);
    CHECK((driver.read(device_config_offset + 6, 2) & net_status_announce) == 0);

    restored.pause_worker();
    REQUIRE(new_backend.sent.size() == 1);
    CHECK(same_bytes(new_backend.sent[0], frame));
    restored.stop();
}
