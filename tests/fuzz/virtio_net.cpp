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
// Bit 5 makes the backend a tap's: offloads negotiated, frames read straight into the
// held receive buffers (readv's iovecs) and sent from guest memory (writev's).

#include <poll.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
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

// A tap, as the NIC sees it: every offload, frames to read into the guest's buffers
// (three, as above, behind a header), and the guest's taken as pieces of guest memory.
struct TapLikeBackend : DiscardingBackend {
    std::vector<std::size_t> frames{60, Net::max_offload_frame, 600};
    bool framed_with_header() const override { return true; }
    std::uint64_t offloads() const override { return net_offload_features; }
    int frame_fd() const override { return 0; }  // the harness says when it is ready
    long read_frame(std::span<const iovec> into) override {
        if (frames.empty()) {
            return 0;
        }
        std::size_t left = sizeof(NetHeader) + frames.back();
        frames.pop_back();
        const std::size_t length = left;
        // Write every byte the frame takes, as readv would, so ASan sees a stray one.
        for (const iovec& piece : into) {
            const std::size_t count = std::min(left, piece.iov_len);
            std::memset(piece.iov_base, 0xcd, count);
            left -= count;
        }
        return left == 0 ? static_cast<long>(length) : -1;
    }
    void send_pieces(std::span<const iovec> pieces) override {
        for (const iovec& piece : pieces) {
            send(std::span(static_cast<const std::uint8_t*>(piece.iov_base), piece.iov_len));
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    berth::fuzz::GuestRing guest;
    if (!guest.load(std::span(data, size))) {
        return 0;
    }
    const bool tap = (data[1] & 32) != 0;
    std::unique_ptr<PacketBackend> backend =
        tap ? std::make_unique<TapLikeBackend>() : std::make_unique<DiscardingBackend>();
    Net net(std::move(backend), {0x52, 0x54, 0, 0x12, 0x34, 0x56}, "fuzz-net");
    std::uint64_t features =
        feature_version_1 | net_feature_mac | net_feature_mtu | net_feature_status;
    if (tap) {
        features |= net_offload_features;
    }
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
        } else if (receive && tap) {
            // The worker's rounds: the queue's first pass, then the tap found readable.
            net.process(net_receive_queue, queue);
            std::vector<pollfd> fds;
            int timeout_ms = -1;
            net.add_host_waits(fds, timeout_ms);
            for (pollfd& fd : fds) {
                fd.revents = POLLIN;
            }
            const auto no_queue = [](std::uint16_t) -> SplitQueue* { return nullptr; };
            if (net.host_ready(fds, no_queue) != 0) {
                net.process(net_receive_queue, queue);
            }
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
