#pragma once
// virtio-rng (entropy device): fills each device-writable buffer the guest offers
// with bytes from the host's getrandom(2). The guest's hw_random core feeds them to
// its entropy pool.

#include "devices/virtio/device.hpp"

namespace berth::devices::virtio {

class Rng : public Device {
public:
    std::string_view name() const override { return "virtio-rng"; }
    DeviceType type() const override { return DeviceType::entropy; }
    std::uint32_t pci_class() const override { return 0xff0000; }  // unclassified
    std::uint64_t features() const override { return 0; }
    std::uint16_t queue_count() const override { return 1; }
    std::uint32_t config_size() const override { return 0; }
    void read_config(std::uint32_t, std::span<std::uint8_t>) const override {}
    void process(std::uint16_t index, SplitQueue& queue) override;

    std::uint64_t bytes_given() const { return bytes_given_; }

private:
    std::uint64_t bytes_given_ = 0;
};

}  // namespace berth::devices::virtio
