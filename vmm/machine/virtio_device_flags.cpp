// The one list of virtio device kinds a Linux guest can be given. A kind is its device
// model (devices/virtio/), its spec and flag (vmm/machine/virtio_*_spec.cpp, built by
// vmm/machine/meson.build) and one line here.

#include "vmm/machine/virtio_device_spec.hpp"

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth::machine {

VirtioDeviceFlag virtio_blk_flag();  // virtio_blk_spec.cpp: --disk
VirtioDeviceFlag virtio_rng_flag();  // virtio_rng_spec.cpp: --rng
VirtioDeviceFlag virtio_net_flag();  // virtio_net_spec.cpp: --net

std::span<const VirtioDeviceFlag> virtio_device_flags() {
    static const VirtioDeviceFlag flags[] = {virtio_blk_flag(), virtio_rng_flag(),
                                             virtio_net_flag()};
    return flags;
}

std::shared_ptr<const VirtioDeviceSpec> spec_from_snapshot(const std::string& kind,
                                                           const std::string& value) {
    // A kind's flag is named after it ("disk": --disk), the NIC's aside ("nic": --net).
    const std::string flag_name = kind == "nic" ? "net" : kind;
    for (const auto& flag : virtio_device_flags()) {
        if (flag.name.substr(2) == flag_name) {
            if (auto spec = flag.make(value)) {
                return spec;
            }
        }
    }
    throw bad_input(fmt::format("device kind {} (value {}) is not one this berth can restore",
                                quote(kind), quote(value)));
}

}  // namespace berth::machine
