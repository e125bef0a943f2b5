#include "devices/misc/qemu_debug_exit.hpp"

#include <algorithm>

namespace berth::devices {

int QemuDebugExit::status_for(std::uint32_t value) {
    // What survives of QEMU's exit((v << 1) | 1) in a process's 8-bit exit status.
    return static_cast<int>(((value << 1) | 1) & 0xff);
}

void QemuDebugExit::io_read(std::uint16_t, std::span<std::uint8_t> data) {
    std::fill(data.begin(), data.end(), std::uint8_t{0});
}

void QemuDebugExit::io_write(std::uint16_t, std::span<const std::uint8_t> data) {
    if (data.empty()) {
        return;
    }
    std::uint32_t value = 0;
    const std::size_t bytes = std::min<std::size_t>(data.size(), 4);
    for (std::size_t i = 0; i < bytes; ++i) {
        value |= std::uint32_t{data[i]} << (8 * i);
    }
    exit_->request(status_for(value));
}

}  // namespace berth::devices
