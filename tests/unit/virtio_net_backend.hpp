#pragma once
// Test helpers for virtio-net: a packet backend that records what the device sends and
// hands it frames as a backend's thread would, a MAC, and frames with a known pattern.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <span>
#include <utility>
#include <vector>

#include "devices/virtio/net.hpp"

namespace berth::test {

// Records what the device sends and hands it frames as the backend's thread would.
class FakeBackend : public devices::virtio::PacketBackend {
public:
    struct State {
        std::uint64_t offloads = 0;  // what offloads() says (a tap's with a vnet header)
        bool framed = false;         // frames carry a header without offloads too
        std::vector<std::vector<std::uint8_t>> sent;
        Receive receive;
        std::vector<std::uint64_t> enabled;  // each enable_offloads() call
        // Frames the NIC may read itself, as from a tap (frame_fd() is `frame_fd` then,
        // any descriptor: the test says when it is ready), and how many pieces each
        // send_pieces() call had.
        int frame_fd = -1;
        std::deque<std::vector<std::uint8_t>> readable;
        std::vector<std::size_t> sent_pieces;
        // Frames handed over from waited(), as user-mode NAT's poll loop does.
        std::vector<std::vector<std::uint8_t>> from_waited;
    };
    explicit FakeBackend(State& state) : state_(state) {}
    void start(Receive receive) override { state_.receive = std::move(receive); }
    void send(std::span<const std::uint8_t> frame) override {
        state_.sent.emplace_back(frame.begin(), frame.end());
    }
    void send_pieces(std::span<const iovec> pieces) override {
        state_.sent_pieces.push_back(pieces.size());
        PacketBackend::send_pieces(pieces);
    }
    bool framed_with_header() const override { return state_.framed || state_.offloads != 0; }
    std::uint64_t offloads() const override { return state_.offloads; }
    int frame_fd() const override { return state_.frame_fd; }
    void waited(std::span<const pollfd>) override {
        for (const auto& frame : std::exchange(state_.from_waited, {})) {
            state_.receive(frame);
        }
    }
    // As readv from a tap: the next frame, cut to what `into` holds.
    long read_frame(std::span<const iovec> into) override {
        if (state_.readable.empty()) {
            return 0;
        }
        const auto frame = std::move(state_.readable.front());
        state_.readable.pop_front();
        std::size_t done = 0;
        for (const iovec& piece : into) {
            const std::size_t count = std::min(piece.iov_len, frame.size() - done);
            std::memcpy(piece.iov_base, frame.data() + done, count);
            done += count;
        }
        return static_cast<long>(done);
    }
    void enable_offloads(std::uint64_t features) override { state_.enabled.push_back(features); }

private:
    State& state_;
};

inline constexpr devices::virtio::MacAddress test_mac{0x52, 0x54, 0x00, 0xbe, 0x27, 0x00};

inline std::vector<std::uint8_t> make_frame(std::size_t size, std::uint8_t seed) {
    std::vector<std::uint8_t> frame(size);
    for (std::size_t i = 0; i < size; ++i) {
        frame[i] = static_cast<std::uint8_t>(i * 13 + seed);
    }
    return frame;
}

}  // namespace berth::test
