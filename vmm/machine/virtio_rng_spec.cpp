// --rng: a virtio-rng entropy device (no host resource: it reads getrandom(2)).

#include "devices/virtio/rng.hpp"
#include "vmm/machine/virtio_device_spec.hpp"

namespace berth::machine {

namespace {

class RngSpec final : public VirtioDeviceSpec {
public:
    std::string_view kind() const override { return "rng"; }
    std::shared_ptr<devices::virtio::Device> open(unsigned) const override {
        return std::make_shared<devices::virtio::Rng>();
    }
    SnapshotRecord snapshot_record() const override { return {}; }
};

std::shared_ptr<const VirtioDeviceSpec> make_rng(const std::string&) {
    return std::make_shared<RngSpec>();
}

}  // namespace

VirtioDeviceFlag virtio_rng_flag() {
    return {"--rng", "Give the guest a virtio-rng entropy device", "", make_rng};
}

}  // namespace berth::machine
