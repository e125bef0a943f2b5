#include "vmm/machine/io_dispatch.hpp"

#include <span>

#include "vmm/common/error.hpp"

namespace berth::machine {

void dispatch_io(const kvm::RunArea& run_area, const devices::PortIoBus& bus, ExitStats& stats) {
    kvm_run& run = run_area.get();
    const std::size_t run_size = run_area.size();
    const auto& io = run.io;
    const std::size_t element = io.size;
    const std::size_t bytes = element * io.count;
    // KVM fills these fields, but we still refuse to step outside the mapping.
    if (io.data_offset > run_size || bytes > run_size - io.data_offset) {
        throw Error("KVM reported port I/O data outside the kvm_run area");
    }
    auto* data = reinterpret_cast<std::uint8_t*>(&run) + io.data_offset;
    const auto direction = io.direction == KVM_EXIT_IO_OUT ? IoDirection::out : IoDirection::in;
    const auto* device = bus.device_at(io.port);
    stats.count_port(io.port, direction, device != nullptr ? device->name() : "");
    // String I/O (rep ins/outs) arrives as `count` elements; each is one access.
    for (std::size_t i = 0; i < io.count; ++i) {
        std::span<std::uint8_t> one(data + i * element, element);
        if (direction == IoDirection::out) {
            bus.write(io.port, one);
        } else {
            bus.read(io.port, one);
        }
    }
}

}  // namespace berth::machine
