#pragma once
// virtio-console with one port (the guest's hvc0), no multiport. Queue 0 (receiveq)
// carries host input into buffers the guest posted; queue 1 (transmitq) carries the
// guest's output, which goes to `output`. Host input waits in a bounded buffer until
// the guest posts receive buffers.

#include <deque>
#include <functional>
#include <mutex>

#include "devices/virtio/device.hpp"

namespace berth::devices::virtio {

class Console : public Device {
public:
    using Output = std::function<void(std::span<const std::uint8_t>)>;
    static constexpr std::size_t input_limit = 64 * 1024;

    explicit Console(Output output) : output_(std::move(output)) {}

    std::string_view name() const override { return "virtio-console"; }
    DeviceType type() const override { return DeviceType::console; }
    std::uint32_t pci_class() const override { return 0x078000; }  // communication, other
    std::uint64_t features() const override { return 0; }
    std::uint16_t queue_count() const override { return 2; }
    std::uint32_t config_size() const override { return 12; }
    void read_config(std::uint32_t offset, std::span<std::uint8_t> data) const override;
    void process(std::uint16_t index, SplitQueue& queue) override;
    void reset() override;

    // Host input for the guest (any thread). Bytes beyond input_limit are dropped, as
    // a UART drops characters nobody reads; returns the count accepted.
    std::size_t receive(std::span<const std::uint8_t> bytes);

private:
    void fill_receive(SplitQueue& queue);
    void drain_transmit(SplitQueue& queue);

    Output output_;
    std::mutex input_mutex_;
    std::deque<std::uint8_t> input_;
};

}  // namespace berth::devices::virtio
