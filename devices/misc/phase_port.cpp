#include "devices/misc/phase_port.hpp"

#include <algorithm>

namespace berth::devices {

void PhasePort::io_read(std::uint16_t, std::span<std::uint8_t> data) {
    std::fill(data.begin(), data.end(), std::uint8_t{0});
}

void PhasePort::io_write(std::uint16_t, std::span<const std::uint8_t>) {
    if (on_write_) {
        on_write_();
    }
}

}  // namespace berth::devices
