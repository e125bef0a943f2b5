#include <catch2/catch.hpp>

#include <poll.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <span>
#include <vector>

#include "devices/virtio/net.hpp"
#include "tests/unit/byte_compare.hpp"
#include "tests/unit/virtio_net_backend.hpp"
#include "tests/unit/virtio_ring_builder.hpp"

using namespace berth::devices::virtio;
using namespace berth::test;

namespace {

// A device with two rings and a fake backend, as the transport would drive it.
struct NetRig {
    explicit NetRig(std::uint64_t features = net_feature_mrg_rxbuf, std::uint64_t offloads = 0,
                    bool framed = false)
        : backend(with_offloads(offloads, framed)),
          net(std::make_unique<FakeBackend>(backend), test_mac, "virtio-net (test)") {
        net.set_kick([this](std::uint16_t index) { kicks.push_back(index); });
        net.negotiated(features | feature_version_1);
    }

    static FakeBackend::State with_offloads(std::uint64_t offloads, bool framed) {
        FakeBackend::State state;
        state.offloads = offloads;
        state.framed = framed;
        return state;
    }

    // Puts `frame` with a zero header at `at` and makes one readable descriptor of it.
    void post_transmit(std::uint16_t index, std::uint64_t at, std::span<const std::uint8_t> frame,
                       NetHeader header = {}) {
        tx.memory.write(at, bytes(header));
        tx.memory.write(at + sizeof header, frame);
        tx.set_desc(index, at, static_cast<std::uint32_t>(sizeof header + frame.size()));
        tx.publish(index);
    }
    void post_receive(std::uint16_t index, std::uint64_t at, std::uint32_t length) {
        rx.set_desc(index, at, length, desc_flag_write);
        rx.publish(index);
    }
    // A tap's frame descriptor (any number: serve_ready_frames says when it is ready),
    // `count` receive buffers of `size` bytes, `stride` apart, and the driver's first use
    // of the queue, after which the tap's frames are read.
    void receive_from_tap(std::uint16_t count, std::uint32_t size, std::uint64_t stride) {
        backend.frame_fd = 1000;
        for (std::uint16_t i = 0; i < count; ++i) {
            post_receive(i, RingBuilder::data + stride * i, size);
        }
        net.process(net_receive_queue, receive_queue);
    }
    void receive(std::span<const std::uint8_t> frame) { backend.receive(frame); }
    NetHeader header_at(std::uint64_t at) const { return rx.memory.read_object<NetHeader>(at); }
    std::vector<std::uint8_t> read_rx(std::uint64_t at, std::size_t length) const {
        std::vector<std::uint8_t> out(length);
        rx.memory.read(at, out);
        return out;
    }
    static std::span<const std::uint8_t> bytes(const NetHeader& header) {
        return {reinterpret_cast<const std::uint8_t*>(&header), sizeof header};
    }

    FakeBackend::State backend;
    std::vector<std::uint16_t> kicks;
    Net net;
    RingBuilder rx{16};
    RingBuilder tx{16};
    SplitQueue receive_queue{rx.memory, rx.layout(), EventIdx::off, IndirectDescriptors::on};
    SplitQueue transmit_queue{tx.memory, tx.layout(), EventIdx::off, IndirectDescriptors::on};
};

constexpr std::uint64_t data = RingBuilder::data;

}  // namespace

TEST_CASE("virtio-net offers its features and configuration", "[virtio][net]") {
    NetRig rig;
    CHECK(rig.net.type() == DeviceType::net);
    CHECK(rig.net.queue_count() == 3);  // receive, transmit, control
    const std::uint64_t features = rig.net.features();
    CHECK((features & net_feature_mac) != 0);
    CHECK((features & net_feature_status) != 0);
    CHECK((features & net_feature_mtu) != 0);
    CHECK((features & net_feature_mrg_rxbuf) != 0);
    CHECK((features & (net_feature_csum | net_feature_guest_csum)) == 0);
    std::array<std::uint8_t, 12> config{};
    rig.net.read_config(0, config);
    CHECK(same_bytes(std::span(config).first(6), test_mac));
    CHECK(config[6] == net_status_link_up);
    CHECK(config[8] == 1);  // one queue pair
    CHECK((config[10] | config[11] << 8) == Net::mtu);
}

TEST_CASE("virtio-net sends the guest's frames to the backend byte for byte", "[virtio][net]") {
    NetRig rig;
    const auto first = make_frame(60, 1);
    rig.post_transmit(0, data, first);
    // The second split anyhow: 5 bytes of header, the rest of it with 100 bytes of
    // frame, then the frame's tail through an indirect table.
    const auto second = make_frame(1514, 2);
    rig.tx.memory.write(data + 0x1000, NetRig::bytes(NetHeader{}));
    rig.tx.memory.write(data + 0x1000 + 12, second);
    rig.tx.set_desc(1, data + 0x1000, 5, desc_flag_next, 2);
    rig.tx.set_desc(2, data + 0x1000 + 5, 7 + 100, desc_flag_next, 3);
    rig.tx.set_desc(3, data + 0x3000, 16, desc_flag_indirect);
    rig.tx.memory.write_object(data + 0x3000, Descriptor{data + 0x1000 + 12 + 100, 1414, 0, 0});
    rig.tx.publish(1);
    rig.net.process(net_transmit_queue, rig.transmit_queue);
    REQUIRE(rig.backend.sent.size() == 2);
    CHECK(same_bytes(rig.backend.sent[0], first));
    CHECK(same_bytes(rig.backend.sent[1], second));
    CHECK(rig.tx.used_idx() == 2);
    CHECK(rig.tx.used_element(0).length == 0);  // nothing written back
    CHECK(rig.net.counters().sent == 2);
}

TEST_CASE("virtio-net spreads a frame over mergeable receive buffers", "[virtio][net]") {
    NetRig rig;
    const auto frame = make_frame(1000, 3);
    rig.receive(frame);
    CHECK(rig.kicks == std::vector<std::uint16_t>{net_receive_queue});
    rig.net.process(net_receive_queue, rig.receive_queue);  // no buffer yet: it waits
    CHECK(rig.rx.used_idx() == 0);

    // 12 + 1000 bytes need three 400-byte buffers; two are not enough, so none is used.
    rig.post_receive(0, data, 400);
    rig.post_receive(1, data + 0x1000, 400);
    rig.net.process(net_receive_queue, rig.receive_queue);
    CHECK(rig.rx.used_idx() == 0);
    rig.post_receive(2, data + 0x2000, 400);
    rig.post_receive(3, data + 0x3000, 400);  // left for the next frame
    rig.net.process(net_receive_queue, rig.receive_queue);
    REQUIRE(rig.rx.used_idx() == 3);
    CHECK(rig.rx.used_element(0).id == 0);
    CHECK(rig.rx.used_element(0).length == 400);
    CHECK(rig.rx.used_element(1).id == 1);
    CHECK(rig.rx.used_element(1).length == 400);
    CHECK(rig.rx.used_element(2).id == 2);
    CHECK(rig.rx.used_element(2).length == 212);
    const NetHeader header = rig.header_at(data);
    CHECK(header.num_buffers == 3);
    CHECK(header.flags == 0);
    CHECK(header.gso_type == net_hdr_gso_none);
    std::vector<std::uint8_t> got = rig.read_rx(data + 12, 388);
    const auto middle = rig.read_rx(data + 0x1000, 400);
    const auto tail = rig.read_rx(data + 0x2000, 212);
    got.insert(got.end(), middle.begin(), middle.end());
    got.insert(got.end(), tail.begin(), tail.end());
    CHECK(same_bytes(got, frame));

    // A small frame fits the buffer left over: num_buffers 1.
    const auto small = make_frame(60, 4);
    rig.receive(small);
    rig.net.process(net_receive_queue, rig.receive_queue);
    REQUIRE(rig.rx.used_idx() == 4);
    CHECK(rig.rx.used_element(3).id == 3);
    CHECK(rig.rx.used_element(3).length == 72);
    CHECK(rig.header_at(data + 0x3000).num_buffers == 1);
    CHECK(same_bytes(rig.read_rx(data + 0x3000 + 12, 60), small));
    CHECK(rig.net.counters().received == 2);
}

TEST_CASE("virtio-net without MRG_RXBUF puts each frame in one buffer", "[virtio][net]") {
    NetRig rig(0);
    rig.post_receive(0, data, 100);  // too small for the first frame: it is dropped
    rig.receive(make_frame(200, 5));
    const auto fits = make_frame(80, 6);
    rig.receive(fits);
    rig.net.process(net_receive_queue, rig.receive_queue);
    REQUIRE(rig.rx.used_idx() == 1);
    CHECK(rig.rx.used_element(0).length == 92);
    CHECK(rig.header_at(data).num_buffers == 1);
    CHECK(same_bytes(rig.read_rx(data + 12, 80), fits));
    CHECK(rig.net.counters().receive_dropped == 1);
}

TEST_CASE("virtio-net fails only the bad transmit chain", "[virtio][net]") {
    NetRig rig;
    const auto good = make_frame(100, 7);
    // A buffer outside guest RAM.
    rig.tx.set_desc(0, RingBuilder::ram_size - 16, 200);
    rig.tx.publish(0);
    // A device-writable descriptor in a transmit chain.
    rig.tx.memory.write(data, NetRig::bytes(NetHeader{}));
    rig.tx.memory.write(data + 12, good);
    rig.tx.set_desc(1, data, 112, desc_flag_write);
    rig.tx.publish(1);
    // A header too short to be one, and a frame shorter than an Ethernet header.
    rig.tx.set_desc(2, data, 8);
    rig.tx.publish(2);
    rig.tx.set_desc(3, data, 12 + 10);
    rig.tx.publish(3);
    // A frame longer than the MTU allows, and one asking for a checksum we never offered.
    rig.tx.set_desc(4, data + 0x4000, 12 + Net::max_frame + 1);
    rig.tx.publish(4);
    NetHeader wants_csum{};
    wants_csum.flags = net_hdr_flag_needs_csum;
    rig.post_transmit(5, data + 0x1000, good, wants_csum);
    // Then a good one.
    rig.post_transmit(6, data + 0x2000, good);
    rig.net.process(net_transmit_queue, rig.transmit_queue);
    CHECK(rig.tx.used_idx() == 7);
    REQUIRE(rig.backend.sent.size() == 1);
    CHECK(same_bytes(rig.backend.sent[0], good));
    CHECK(rig.net.counters().send_dropped == 6);
}

TEST_CASE("virtio-net gives back bad receive buffers empty and uses the next", "[virtio][net]") {
    NetRig rig;
    rig.post_receive(0, data, 8);                            // shorter than the 12-byte header
    rig.post_receive(1, RingBuilder::ram_size - 100, 2000);  // outside guest RAM
    rig.rx.set_desc(2, data + 0x1000, 2000);                 // device-readable
    rig.rx.publish(2);
    rig.post_receive(3, data + 0x2000, 2000);
    const auto frame = make_frame(300, 8);
    rig.receive(frame);
    rig.net.process(net_receive_queue, rig.receive_queue);
    REQUIRE(rig.rx.used_idx() == 4);
    for (std::uint16_t i = 0; i < 3; ++i) {
        CHECK(rig.rx.used_element(i).id == i);
        CHECK(rig.rx.used_element(i).length == 0);
    }
    CHECK(rig.rx.used_element(3).length == 312);
    CHECK(same_bytes(rig.read_rx(data + 0x2000 + 12, 300), frame));
    CHECK(rig.net.counters().bad_receive_buffers == 3);
}

TEST_CASE("virtio-net turns a broken ring into a queue violation, not a hang", "[virtio][net]") {
    NetRig rig;
    // A descriptor loop on each queue: 0 -> 1 -> 0.
    rig.tx.set_desc(0, data, 100, desc_flag_next, 1);
    rig.tx.set_desc(1, data, 100, desc_flag_next, 0);
    rig.tx.publish(0);
    CHECK_THROWS_AS(rig.net.process(net_transmit_queue, rig.transmit_queue), QueueViolation);
    CHECK(rig.backend.sent.empty());
    rig.rx.set_desc(0, data, 100, desc_flag_write | desc_flag_next, 1);
    rig.rx.set_desc(1, data, 100, desc_flag_write | desc_flag_next, 0);
    rig.rx.publish(0);
    rig.receive(make_frame(60, 9));
    CHECK_THROWS_AS(rig.net.process(net_receive_queue, rig.receive_queue), QueueViolation);
    // A head index past the ring.
    rig.tx.publish(40);
    CHECK_THROWS_AS(rig.net.process(net_transmit_queue, rig.transmit_queue), QueueViolation);
}

TEST_CASE("virtio-net bounds the frames waiting for buffers", "[virtio][net]") {
    NetRig rig;
    const auto frame = make_frame(64, 10);
    for (std::size_t i = 0; i < Net::pending_limit + 10; ++i) {
        rig.receive(frame);
    }
    rig.receive(make_frame(Net::max_frame + 1, 11));  // too long for the link
    rig.receive(make_frame(10, 12));                  // too short to be a frame
    CHECK(rig.net.counters().receive_dropped == 12);
    rig.net.reset();  // the driver reset the device: nothing waits any more
    rig.post_receive(0, data, 2000);
    rig.net.negotiated(net_feature_mrg_rxbuf);
    rig.net.process(net_receive_queue, rig.receive_queue);
    CHECK(rig.rx.used_idx() == 0);
}

TEST_CASE("virtio-net passes offloaded segments and their headers through", "[virtio][net]") {
    // A backend that carries every offload (a tap); the driver takes checksums both ways
    // and TSO4 from the guest, not TSO6.
    const std::uint64_t accepted =
        net_feature_mrg_rxbuf | net_feature_csum | net_feature_guest_csum | net_feature_host_tso4;
    NetRig rig(accepted, net_offload_features);
    CHECK((rig.net.features() & net_offload_features) == net_offload_features);
    REQUIRE(rig.backend.enabled.size() == 1);
    CHECK(rig.backend.enabled[0] ==
          (net_feature_csum | net_feature_guest_csum | net_feature_host_tso4));

    // A 20000-byte TCPv4 segment with a partial checksum: sent whole, header first.
    NetHeader tso{};
    tso.flags = net_hdr_flag_needs_csum;
    tso.gso_type = net_hdr_gso_tcpv4;
    tso.hdr_len = 54;
    tso.gso_size = 1448;
    tso.csum_start = 34;
    tso.csum_offset = 16;
    const auto segment = make_frame(20000, 5);
    rig.post_transmit(0, data, segment, tso);
    // Refused: TSO6 (not accepted), a checksum place beyond the frame, a 2000-byte frame
    // without segmentation, a segment without a checksum to fill in.
    NetHeader tso6 = tso;
    tso6.gso_type = net_hdr_gso_tcpv6;
    rig.post_transmit(1, data + 0x8000, make_frame(3000, 6), tso6);
    NetHeader beyond{};
    beyond.flags = net_hdr_flag_needs_csum;
    beyond.csum_start = 90;
    beyond.csum_offset = 10;
    rig.post_transmit(2, data + 0xa000, make_frame(100, 7), beyond);
    rig.post_transmit(3, data + 0xb000, make_frame(2000, 8));
    NetHeader no_csum = tso;
    no_csum.flags = 0;
    rig.post_transmit(4, data + 0xc000, make_frame(3000, 9), no_csum);
    rig.net.process(net_transmit_queue, rig.transmit_queue);
    CHECK(rig.tx.used_idx() == 5);
    REQUIRE(rig.backend.sent.size() == 1);
    REQUIRE(rig.backend.sent[0].size() == 12 + segment.size());
    NetHeader sent_header{};
    std::memcpy(&sent_header, rig.backend.sent[0].data(), sizeof sent_header);
    CHECK(sent_header.gso_type == net_hdr_gso_tcpv4);
    CHECK(sent_header.gso_size == 1448);
    CHECK(sent_header.csum_start == 34);
    CHECK(same_bytes(std::span(rig.backend.sent[0]).subspan(12), segment));
    CHECK(rig.net.counters().send_dropped == 4);

    // From the backend: its header (a TCPv4 segment, checksum checked) reaches the
    // guest with num_buffers filled in.
    NetHeader incoming{};
    incoming.flags = 2;  // DATA_VALID
    incoming.gso_type = net_hdr_gso_tcpv4;
    incoming.gso_size = 1448;
    std::vector<std::uint8_t> packet(sizeof incoming);
    std::memcpy(packet.data(), &incoming, sizeof incoming);
    const auto big = make_frame(9000, 11);
    packet.insert(packet.end(), big.begin(), big.end());
    rig.receive(packet);
    rig.post_receive(0, data, 4096);
    rig.post_receive(1, data + 0x2000, 4096);
    rig.post_receive(2, data + 0x4000, 4096);
    rig.net.process(net_receive_queue, rig.receive_queue);
    REQUIRE(rig.rx.used_idx() == 3);
    const NetHeader got = rig.header_at(data);
    CHECK(got.num_buffers == 3);
    CHECK(got.flags == 2);
    CHECK(got.gso_type == net_hdr_gso_tcpv4);
    CHECK(got.gso_size == 1448);
    CHECK(same_bytes(rig.read_rx(data + 12, 100), std::span(big).first(100)));

    // A reset takes the offloads back from the backend.
    rig.net.reset();
    CHECK(rig.backend.enabled.back() == 0);
}

TEST_CASE("virtio-net hides the backend's offload flags from a driver without them",
          "[virtio][net]") {
    NetRig rig(net_feature_mrg_rxbuf, net_offload_features);
    CHECK(rig.backend.enabled.at(0) == 0);
    NetHeader incoming{};
    incoming.flags = 2;  // DATA_VALID: means nothing without GUEST_CSUM
    std::vector<std::uint8_t> packet(sizeof incoming);
    std::memcpy(packet.data(), &incoming, sizeof incoming);
    const auto frame = make_frame(200, 12);
    packet.insert(packet.end(), frame.begin(), frame.end());
    rig.receive(packet);
    rig.post_receive(0, data, 2048);
    rig.net.process(net_receive_queue, rig.receive_queue);
    REQUIRE(rig.rx.used_idx() == 1);
    CHECK(rig.rx.used_element(0).length == 212);
    CHECK(rig.header_at(data).flags == 0);
    CHECK(same_bytes(rig.read_rx(data + 12, 200), frame));
}

// --- control queue, announcements, snapshots --------------------------------------------

namespace {

// A control ring beside the NetRig's two, and the device's configuration-change
// interrupts counted.
struct ControlRig : NetRig {
    ControlRig()
        : NetRig(net_feature_mrg_rxbuf | net_feature_ctrl_vq | net_feature_guest_announce) {
        net.set_config_interrupt([this] { ++config_interrupts; });
    }
    // class and command (and `extra` data bytes) in one readable descriptor, then an
    // ack byte (pre-set to 0xee) in a writable one.
    void post_command(std::uint16_t head, std::uint8_t command_class, std::uint8_t command,
                      std::size_t extra = 0) {
        std::vector<std::uint8_t> bytes{command_class, command};
        bytes.resize(2 + extra, 0);
        const std::uint64_t at = data + 0x100ULL * head;
        ctrl.memory.write(at, bytes);
        ctrl.memory.write_object<std::uint8_t>(at + 0x80, 0xee);
        ctrl.set_desc(head, at, static_cast<std::uint32_t>(bytes.size()), desc_flag_next,
                      static_cast<std::uint16_t>(head + 1));
        ctrl.set_desc(static_cast<std::uint16_t>(head + 1), at + 0x80, 1, desc_flag_write);
        ctrl.publish(head);
    }
    std::uint8_t ack(std::uint16_t head) const {
        return ctrl.memory.read_object<std::uint8_t>(data + 0x100ULL * head + 0x80);
    }
    std::uint8_t status() const {
        std::array<std::uint8_t, 2> status{};
        net.read_config(6, status);
        return status[0];
    }

    int config_interrupts = 0;
    RingBuilder ctrl{16};
    SplitQueue control_queue{ctrl.memory, ctrl.layout(), EventIdx::off, IndirectDescriptors::on};
};

}  // namespace

TEST_CASE("virtio-net offers a control queue and guest announcements", "[virtio][net]") {
    NetRig rig;
    CHECK((rig.net.features() & net_feature_ctrl_vq) != 0);
    CHECK((rig.net.features() & net_feature_guest_announce) != 0);
}

TEST_CASE("virtio-net asks the guest to announce itself until it acknowledges", "[virtio][net]") {
    ControlRig rig;
    CHECK(rig.status() == net_status_link_up);
    rig.net.announce();
    CHECK(rig.config_interrupts == 1);
    CHECK(rig.status() == (net_status_link_up | net_status_announce));

    rig.post_command(0, net_ctrl_class_announce, net_ctrl_announce_ack);
    rig.net.process(net_control_queue, rig.control_queue);
    REQUIRE(rig.ctrl.used_idx() == 1);
    CHECK(rig.ctrl.used_element(0).id == 0);
    CHECK(rig.ctrl.used_element(0).length == 1);
    CHECK(rig.ack(0) == net_ctrl_ok);
    CHECK(rig.status() == net_status_link_up);
    CHECK_FALSE(rig.net.announcing());

    // A reset forgets an announcement not yet acknowledged.
    rig.net.announce();
    rig.net.reset();
    CHECK(rig.status() == net_status_link_up);
}

TEST_CASE("virtio-net does not announce to a driver without GUEST_ANNOUNCE", "[virtio][net]") {
    NetRig rig;  // negotiated MRG_RXBUF only
    int interrupts = 0;
    rig.net.set_config_interrupt([&] { ++interrupts; });
    rig.net.announce();
    CHECK(interrupts == 0);
    std::array<std::uint8_t, 1> status{};
    rig.net.read_config(6, status);
    CHECK(status[0] == net_status_link_up);
}

TEST_CASE("virtio-net refuses control commands it does not offer and odd ones", "[virtio][net]") {
    ControlRig rig;
    rig.net.announce();
    rig.post_command(0, 0, 0);                        // RX promiscuous: CTRL_RX not offered
    rig.post_command(2, 1, 1);                        // MAC table set: CTRL_MAC_ADDR not offered
    rig.post_command(4, 4, 0);                        // MQ: not offered
    rig.post_command(6, net_ctrl_class_announce, 1);  // no such command
    rig.post_command(8, net_ctrl_class_announce, net_ctrl_announce_ack, 4);  // ACK with data
    rig.post_command(10, 0xff, 0xff);
    // Only one readable byte: no command byte.
    rig.ctrl.memory.write_object<std::uint8_t>(data + 0xc00, net_ctrl_class_announce);
    rig.ctrl.set_desc(12, data + 0xc00, 1, desc_flag_next, 13);
    rig.ctrl.set_desc(13, data + 0xc80, 1, desc_flag_write);
    rig.ctrl.memory.write_object<std::uint8_t>(data + 0xc80, 0xee);
    rig.ctrl.publish(12);
    // No ack byte at all: returned with nothing written.
    rig.ctrl.memory.write(data + 0xe00, std::vector<std::uint8_t>{net_ctrl_class_announce, 0});
    rig.ctrl.set_desc(14, data + 0xe00, 2);
    rig.ctrl.publish(14);
    // A descriptor outside guest RAM.
    rig.ctrl.set_desc(15, 1ULL << 40, 2);
    rig.ctrl.publish(15);

    rig.net.process(net_control_queue, rig.control_queue);
    REQUIRE(rig.ctrl.used_idx() == 9);
    for (std::uint16_t head : {0, 2, 4, 6, 8, 10, 12}) {
        INFO("command at " << head);
        CHECK(rig.ack(head) == net_ctrl_err);
    }
    CHECK(rig.ctrl.used_element(7).id == 14);
    CHECK(rig.ctrl.used_element(7).length == 0);
    CHECK(rig.ctrl.used_element(8).id == 15);
    CHECK(rig.ctrl.used_element(8).length == 0);
    // None of them was the acknowledgement.
    CHECK(rig.net.announcing());
}

TEST_CASE("virtio-net keeps held receive buffers across a snapshot, none lost or reused",
          "[virtio][net]") {
    NetRig rig;
    // A 1000-byte frame needs three 400-byte buffers; the guest posted two: held.
    rig.post_receive(0, data, 400);
    rig.post_receive(1, data + 0x1000, 400);
    rig.receive(make_frame(1000, 7));
    rig.net.process(net_receive_queue, rig.receive_queue);
    REQUIRE(rig.rx.used_idx() == 0);
    const std::vector<std::uint8_t> state = rig.net.save_state();
    const SplitQueue::Position position = rig.receive_queue.position();
    CHECK(position.next_avail == 2);

    // A new device, as a restore makes, on a ring put back at the saved position.
    FakeBackend::State backend;
    Net restored(std::make_unique<FakeBackend>(backend), test_mac, "virtio-net (restored)");
    restored.negotiated(net_feature_mrg_rxbuf | feature_version_1);
    restored.restore_state(state);
    SplitQueue queue{rig.rx.memory, rig.rx.layout(), EventIdx::off, IndirectDescriptors::on};
    queue.set_position(position);
    // The waiting frame was lost with the old host side; a new one takes both held
    // buffers and a third posted after the restore.
    const auto frame = make_frame(1000, 8);
    restored.receive(frame);
    rig.post_receive(2, data + 0x2000, 400);
    restored.process(net_receive_queue, queue);
    REQUIRE(rig.rx.used_idx() == 3);
    CHECK(rig.rx.used_element(0).id == 0);
    CHECK(rig.rx.used_element(1).id == 1);
    CHECK(rig.rx.used_element(2).id == 2);
    CHECK(rig.header_at(data).num_buffers == 3);
    CHECK(same_bytes(rig.read_rx(data + 12, 388), std::span(frame).first(388)));
    CHECK(restored.counters().received == 1);
}

TEST_CASE("virtio-net refuses saved state of the wrong size", "[virtio][net]") {
    NetRig rig;
    CHECK_THROWS(rig.net.restore_state(std::vector<std::uint8_t>{}));
    CHECK_THROWS(rig.net.restore_state(std::vector<std::uint8_t>{2, 0, 1, 0}));
    CHECK_NOTHROW(rig.net.restore_state(std::vector<std::uint8_t>{0, 0}));
}

namespace {

// A backend frame with a TCPv4 segment's header (checksum checked), `size` bytes of frame.
std::vector<std::uint8_t> tap_frame(std::size_t size, std::uint8_t seed) {
    NetHeader header{};
    header.flags = 2;  // DATA_VALID
    header.gso_type = net_hdr_gso_tcpv4;
    header.gso_size = 1448;
    header.num_buffers = 0xeeee;  // the tap leaves it alone; the NIC must fill it in
    std::vector<std::uint8_t> packet(sizeof header);
    std::memcpy(packet.data(), &header, sizeof header);
    const auto frame = make_frame(size, seed);
    packet.insert(packet.end(), frame.begin(), frame.end());
    return packet;
}

// Whether the NIC waits on the backend's frame descriptor now, and if so, lets it find
// it readable: what the transport's worker does around its poll.
bool serve_ready_frames(NetRig& rig) {
    std::vector<pollfd> fds;
    int timeout_ms = -1;
    rig.net.add_host_waits(fds, timeout_ms);
    const bool waits = std::any_of(fds.begin(), fds.end(),
                                   [&](const pollfd& fd) { return fd.fd == rig.backend.frame_fd; });
    for (pollfd& fd : fds) {
        fd.revents = fd.fd == rig.backend.frame_fd ? POLLIN : 0;
    }
    const auto no_queue = [](std::uint16_t) -> SplitQueue* { return nullptr; };
    if ((rig.net.host_ready(fds, no_queue) & (1U << net_receive_queue)) != 0) {
        rig.net.process(net_receive_queue, rig.receive_queue);
    }
    return waits;
}

constexpr std::uint64_t tap_features = net_feature_mrg_rxbuf | net_feature_csum |
                                       net_feature_guest_csum | net_feature_host_tso4 |
                                       net_feature_guest_tso4;

}  // namespace

TEST_CASE("virtio-net reads a tap's frames straight into mergeable buffers", "[virtio][net]") {
    NetRig rig(tap_features, net_offload_features);
    rig.backend.frame_fd = 1000;  // any number: serve_ready_frames says when it is ready
    // Room for the longest frame (a 64 KiB segment) must be held before a read, since
    // the read cannot be told the frame's size first: ten 8 KiB buffers are enough for
    // two frames (nine would be for one: 64 KiB and a header).
    for (std::uint16_t i = 0; i < 10; ++i) {
        rig.post_receive(i, data + 0x2000ULL * i, 0x2000);
    }
    // Before the driver's first use of the queue the tap is not read (nowhere to go).
    CHECK_FALSE(serve_ready_frames(rig));
    rig.net.process(net_receive_queue, rig.receive_queue);
    const auto small = tap_frame(3000, 1);
    const auto big = tap_frame(20000, 2);
    rig.backend.readable = {small, big};
    CHECK(serve_ready_frames(rig));
    CHECK(rig.backend.readable.empty());
    REQUIRE(rig.rx.used_idx() == 4);  // one buffer, then three
    CHECK(rig.rx.used_element(0).length == small.size());
    CHECK(rig.header_at(data).num_buffers == 1);
    CHECK(rig.header_at(data).gso_type == net_hdr_gso_tcpv4);
    CHECK(same_bytes(rig.read_rx(data + 12, 3000), std::span(small).subspan(12)));
    CHECK(rig.rx.used_element(1).id == 1);
    CHECK(rig.rx.used_element(1).length == 0x2000);
    CHECK(rig.rx.used_element(3).length == big.size() - 2 * 0x2000);
    const NetHeader second = rig.header_at(data + 0x2000);
    CHECK(second.num_buffers == 3);
    CHECK(second.flags == 2);
    CHECK(same_bytes(rig.read_rx(data + 0x2000 + 12, big.size() - 12), std::span(big).subspan(12)));
    CHECK(rig.net.counters().received == 2);
    CHECK(rig.kicks.empty());  // the worker read them itself: no wake-up

    // Six buffers left (48 KiB) are too few for the longest frame: the tap is left
    // alone until the guest posts more, and then read again.
    rig.backend.readable = {tap_frame(100, 3)};
    CHECK_FALSE(serve_ready_frames(rig));
    CHECK(rig.rx.used_idx() == 4);
    for (std::uint16_t i = 10; i < 14; ++i) {
        rig.post_receive(i, data + 0x2000ULL * i, 0x2000);
    }
    rig.net.process(net_receive_queue, rig.receive_queue);  // the guest's notification
    CHECK(rig.rx.used_idx() == 5);
    CHECK(rig.rx.used_element(4).length == 12 + 100);
    CHECK(serve_ready_frames(rig));
}

TEST_CASE("virtio-net reads a tap's frames aside when buffers cannot hold the longest",
          "[virtio][net]") {
    SECTION("without MRG_RXBUF each frame needs a buffer of its own") {
        NetRig rig(tap_features & ~net_feature_mrg_rxbuf, net_offload_features);
        rig.receive_from_tap(2, 0x2000, 0x2000);
        rig.backend.readable = {tap_frame(3000, 4), tap_frame(9000, 5), tap_frame(200, 6)};
        serve_ready_frames(rig);
        // The first fits; the second is longer than one buffer and lost; the third fits.
        REQUIRE(rig.rx.used_idx() == 2);
        CHECK(rig.rx.used_element(0).length == 12 + 3000);
        CHECK(rig.rx.used_element(1).length == 12 + 200);
        CHECK(rig.header_at(data).num_buffers == 1);
        CHECK(rig.net.counters().receive_dropped == 1);
    }
    SECTION("a ring whose every buffer together is shorter than a 64 KiB segment") {
        NetRig rig(tap_features, net_offload_features);
        rig.receive_from_tap(16, 2048, 0x1000);
        const auto frame = tap_frame(5000, 7);
        rig.backend.readable = {frame};
        serve_ready_frames(rig);
        REQUIRE(rig.rx.used_idx() == 3);
        CHECK(rig.header_at(data).num_buffers == 3);
        CHECK(same_bytes(rig.read_rx(data + 12, 2036), std::span(frame).subspan(12, 2036)));
    }
}

TEST_CASE("virtio-net hands a backend with offloads the guest's frames in pieces",
          "[virtio][net]") {
    NetRig rig(tap_features, net_offload_features);
    const auto frame = make_frame(1514, 9);
    rig.tx.memory.write(data, NetRig::bytes(NetHeader{}));
    rig.tx.memory.write(data + 0x1000, frame);
    rig.tx.set_desc(0, data, 12, desc_flag_next, 1);
    rig.tx.set_desc(1, data + 0x1000, 1514);
    rig.tx.publish(0);
    rig.net.process(net_transmit_queue, rig.transmit_queue);
    CHECK(rig.backend.sent_pieces == std::vector<std::size_t>{2});
    REQUIRE(rig.backend.sent.size() == 1);
    CHECK(same_bytes(std::span(rig.backend.sent[0]).subspan(12), frame));
}

TEST_CASE("virtio-net keeps a tap's header when the tap carries no offload", "[virtio][net]") {
    // A tap whose kernel took no TUNSETOFFLOAD still frames everything with its vnet
    // header: nothing is offered, and the header still travels both ways.
    NetRig rig(net_feature_mrg_rxbuf, 0, true);
    CHECK((rig.net.features() & net_offload_features) == 0);
    CHECK(rig.backend.enabled.empty());
    const auto frame = make_frame(1514, 3);
    rig.post_transmit(0, data, frame);
    rig.net.process(net_transmit_queue, rig.transmit_queue);
    REQUIRE(rig.backend.sent.size() == 1);
    REQUIRE(rig.backend.sent[0].size() == 12 + frame.size());
    CHECK(same_bytes(std::span(rig.backend.sent[0]).subspan(12), frame));

    // From the tap: its header becomes the guest's (flags hidden from a driver without
    // GUEST_CSUM), and the frame follows it whole.
    rig.receive_from_tap(10, 0x2000, 0x2000);
    const auto from_tap = tap_frame(600, 4);
    rig.backend.readable = {from_tap};
    CHECK(serve_ready_frames(rig));
    REQUIRE(rig.rx.used_idx() == 1);
    CHECK(rig.rx.used_element(0).length == from_tap.size());
    CHECK(rig.header_at(data).num_buffers == 1);
    CHECK(rig.header_at(data).flags == 0);
    CHECK(same_bytes(rig.read_rx(data + 12, 600), std::span(from_tap).subspan(12)));
    // And a frame the backend hands over (a DHCP reply) comes behind its header too.
    const auto reply = tap_frame(300, 5);
    rig.receive(reply);
    rig.net.process(net_receive_queue, rig.receive_queue);
    REQUIRE(rig.rx.used_idx() == 2);
    CHECK(rig.rx.used_element(1).length == reply.size());
    CHECK(same_bytes(rig.read_rx(data + 0x2000 + 12, 300), std::span(reply).subspan(12)));
}

TEST_CASE("virtio-net refuses a backend with offloads but no header", "[virtio][net]") {
    struct Unframed : FakeBackend {
        using FakeBackend::FakeBackend;
        bool framed_with_header() const override { return false; }
    };
    FakeBackend::State state;
    state.offloads = net_feature_csum | net_feature_guest_csum;
    CHECK_THROWS(Net(std::make_unique<Unframed>(state), test_mac, "virtio-net (test)"));
}

TEST_CASE("virtio-net puts a backend's frames from its poll loop straight into buffers",
          "[virtio][net]") {
    NetRig rig;
    const auto lend = [&](std::uint16_t index) -> SplitQueue* {
        return index == net_receive_queue ? &rig.receive_queue : nullptr;
    };
    rig.post_receive(0, data, 2048);
    rig.post_receive(1, data + 0x1000, 2048);
    rig.net.process(net_receive_queue, rig.receive_queue);  // the driver's first pass
    const auto first = make_frame(1000, 1);
    const auto second = make_frame(1500, 2);
    const auto third = make_frame(800, 3);
    rig.backend.from_waited = {first, second, third};
    // Two fit at once; the third waits (copied) for a buffer. Queue 0's pass is asked
    // for either way (it interrupts the guest).
    CHECK(rig.net.host_ready({}, lend) == 1U << net_receive_queue);
    CHECK(rig.rx.used_idx() == 2);
    CHECK(same_bytes(rig.read_rx(data + 12, first.size()), first));
    CHECK(same_bytes(rig.read_rx(data + 0x1000 + 12, second.size()), second));
    CHECK(rig.kicks.empty());
    rig.post_receive(2, data + 0x2000, 2048);
    rig.net.process(net_receive_queue, rig.receive_queue);
    CHECK(rig.rx.used_idx() == 3);
    CHECK(same_bytes(rig.read_rx(data + 0x2000 + 12, third.size()), third));
    CHECK(rig.net.counters().received == 3);

    // A broken ring on the way: the frame waits, and the queue's own pass meets the
    // fault where the transport handles it (NEEDS_RESET), not inside the backend's call.
    rig.rx.set_avail_idx(static_cast<std::uint16_t>(rig.rx.avail_idx + 100));
    rig.backend.from_waited = {make_frame(600, 4)};
    CHECK(rig.net.host_ready({}, lend) == 1U << net_receive_queue);
    CHECK_THROWS_AS(rig.net.process(net_receive_queue, rig.receive_queue), QueueViolation);
}
