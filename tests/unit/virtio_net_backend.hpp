#pragma once
// Test helpers for virtio-net: a packet backend that records what the device sends and
// hands it frames as a backend's thread would, a MAC, and frames with a known pattern.

#include <cstdint>
#include <span>
#include <vector>

#include "devices/virtio/net.hpp"

namespace berth::test {

// Records what the device sends and hands it frames as the backend's thread would.
class FakeBackend : public devices::virtio::PacketBackend {
public:
    struct State {
        std::uint64_t offloads = 0;  // what offloads() says (a tap's with a vnet header)
        std::vector<std::vector<std::uint8_t>> sent;
        Receive receive;
        std::vector<std::uint64_t> enabled;  // each enable_offloads() call
    };
    explicit FakeBackend(State& state) : state_(state) {}
    void start(Receive receive) override { state_.receive = std::move(receive); }
    void send(std::span<const std::uint8_t> frame) override {
        state_.sent.emplace_back(frame.begin(), frame.end());
    }
    std::uint64_t offloads() const override { return state_.offloads; }
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
