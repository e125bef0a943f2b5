// The one list of virtio device kinds a Linux guest can be given. A kind is its device
// model (devices/virtio/), its spec and flag (vmm/machine/virtio_*_spec.cpp, built by
// vmm/machine/meson.build) and one line here.

#include "vmm/machine/virtio_device_spec.hpp"

namespace berth::machine {

VirtioDeviceFlag virtio_blk_flag();  // virtio_blk_spec.cpp: --disk
VirtioDeviceFlag virtio_rng_flag();  // virtio_rng_spec.cpp: --rng
VirtioDeviceFlag virtio_net_flag();  // virtio_net_spec.cpp: --net

std::span<const VirtioDeviceFlag> virtio_device_flags() {
    static const VirtioDeviceFlag flags[] = {virtio_blk_flag(), virtio_rng_flag(),
                                             virtio_net_flag()};
    return flags;
}

}  // namespace berth::machine
