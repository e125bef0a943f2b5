#include "vmm/machine/mmio_dispatch.hpp"

#include <span>

#include "vmm/common/error.hpp"

namespace berth::machine {

void dispatch_mmio(kvm_run& run, const devices::MmioBus& bus, ExitStats& stats) {
    auto& mmio = run.mmio;
    // KVM never reports more than the 8 data bytes, but we refuse to trust a length.
    if (mmio.len == 0 || mmio.len > sizeof mmio.data) {
        throw Error("KVM reported an MMIO access of an impossible width");
    }
    const auto direction = mmio.is_write != 0 ? MmioDirection::write : MmioDirection::read;
    stats.count_mmio(mmio.phys_addr, direction, [&] { return bus.name_at(mmio.phys_addr); });
    std::span<std::uint8_t> data(mmio.data, mmio.len);
    if (direction == MmioDirection::write) {
        bus.write(mmio.phys_addr, data);
    } else {
        bus.read(mmio.phys_addr, data);
    }
}

}  // namespace berth::machine
