#include "devices/misc/debug_exit.hpp"

#include <algorithm>

namespace berth::devices {

void DebugExit::io_read(std::uint16_t, std::span<std::uint8_t> data) {
    std::fill(data.begin(), data.end(), std::uint8_t{0});
}

void DebugExit::io_write(std::uint16_t, std::span<const std::uint8_t> data) {
    if (data.empty()) {
        return;
    }
    // An exit status is one byte wide (exit(3) keeps only the low 8 bits anyway).
    request(data[0]);
}

void DebugExit::request(int status) {
    int expected = none;
    status_.compare_exchange_strong(expected, status);
}

std::optional<int> DebugExit::requested_status() const {
    const int status = status_.load();
    if (status == none) {
        return std::nullopt;
    }
    return status;
}

}  // namespace berth::devices
