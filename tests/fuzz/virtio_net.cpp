// Fuzz harness: virtio-net (devices/virtio/net) from a hostile driver: transmit chains
// with any header and frame layout, and receive buffers of any shape for frames of
// several sizes, with or without mergeable buffers. Every chain must be sent, refused
// or returned; nothing may be read or written outside the guest RAM, and a frame never
// outside its buffers.
//
// Input: the two bytes GuestRing reads; byte 1's bit 2 negotiates MRG_RXBUF, bit 4 picks
// the control queue (with CTRL_VQ and GUEST_ANNOUNCE negotiated and an announcement
// pending: every command is acknowledged or refused, or returned without an ack byte),
// else bit 3 picks the queue (set: receive, with three frames waiting; clear: transmit).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "devices/virtio/net.hpp"
#include "tests/fuzz/guest_ring.hpp"

using namespace berth::devices::virtio;

namespace {

// Takes the guest's frames and drops them; frames for the guest come from the harness.
struct DiscardingBackend : PacketBackend {
    void start(Receive) override {}
    void send(std::span<const std::uint8_t> frame) override {
        // Touch every byte, so that ASan sees a frame that is not all in bounds.
        volatile std::uint8_t sum = 0;
        for (const std::uint8_t byte : frame) {
            sum = static_cast<std::uint8_t>(sum + byte);
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    berth::fuzz::GuestRing guest;
    if (!guest.load(std::span(data, size))) {
        return 0;
    }
    Net net(std::make_unique<DiscardingBackend>(), {0x52, 0x54, 0, 0x12, 0x34, 0x56}, "fuzz-net");
    std::uint64_t features =
        feature_version_1 | net_feature_mac | net_feature_mtu | net_feature_status;
    if ((data[1] & 4) != 0) {
        features |= net_feature_mrg_rxbuf;
    }
    const bool control = (data[1] & 16) != 0;
    if (control) {
        features |= net_feature_ctrl_vq | net_feature_guest_announce;
    }
    net.negotiated(features);
    const bool receive = (data[1] & 8) != 0;
    try {
        SplitQueue queue(guest.memory, guest.layout, guest.event_idx, guest.indirect);
        if (control) {
            net.announce();
            net.process(net_control_queue, queue);
        } else if (receive) {
            for (const std::size_t length : {std::size_t{60}, Net::max_frame, std::size_t{600}}) {
                net.receive(std::vector<std::uint8_t>(length, 0xab));
            }
            net.process(net_receive_queue, queue);
        } else {
            net.process(net_transmit_queue, queue);
        }
    } catch (const QueueViolation&) {
    } catch (const berth::memory::GuestMemoryError&) {
    }
    return 0;
}
