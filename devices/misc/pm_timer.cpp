#include "devices/misc/pm_timer.hpp"

#include <time.h>

namespace berth::devices {

namespace {

std::uint64_t monotonic_now_ns() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000 +
           static_cast<std::uint64_t>(now.tv_nsec);
}

}  // namespace

PmTimer::PmTimer(std::function<std::uint64_t()> now_ns)
    : now_ns_(now_ns ? std::move(now_ns) : monotonic_now_ns), start_ns_(now_ns_()) {}

std::uint64_t PmTimer::ticks_after(std::uint64_t elapsed_ns) {
    // Whole seconds and the rest apart, so that the product fits 64 bits for centuries.
    constexpr std::uint64_t ns_per_second = 1'000'000'000;
    return elapsed_ns / ns_per_second * frequency_hz +
           elapsed_ns % ns_per_second * frequency_hz / ns_per_second;
}

void PmTimer::io_read(std::uint16_t offset, std::span<std::uint8_t> data) {
    const auto count =
        static_cast<std::uint32_t>(ticks_after(now_ns_() - start_ns_) & counter_mask);
    for (std::size_t i = 0; i < data.size(); ++i) {
        const std::size_t byte = offset + i;
        data[i] = byte < 4 ? static_cast<std::uint8_t>(count >> (8 * byte)) : 0;
    }
}

void PmTimer::io_write(std::uint16_t, std::span<const std::uint8_t>) {}

}  // namespace berth::devices
