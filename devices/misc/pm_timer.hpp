#pragma once
// The ACPI power-management timer (ACPI 6.5, 4.8.3.3): a free-running 24-bit counter
// at 3.579545 MHz that a kernel reads from one I/O port to measure time, the clock
// teaching and test kernels calibrate their loops and APIC timers with. It counts from
// zero at the device's creation, on the host's CLOCK_MONOTONIC, so it never jumps and
// needs no thread: each read computes the count.
//
// Given to Multiboot kernels only (the FADT then names it): a Linux guest keeps
// kvm-clock and pays no port exits for a clock it does not need.

#include <cstdint>
#include <functional>

#include "devices/bus/port_io_bus.hpp"

namespace berth::devices {

class PmTimer : public PortIoDevice {
public:
    static constexpr std::uint16_t register_count = 4;
    static constexpr std::uint64_t frequency_hz = 3579545;
    static constexpr std::uint32_t counter_mask = 0xffffff;  // 24 bits (no TMR_VAL_EXT)

    // `now_ns` is the clock the counter follows (CLOCK_MONOTONIC unless a test gives one).
    explicit PmTimer(std::function<std::uint64_t()> now_ns = {});

    // The count `elapsed_ns` after the start, before the 24-bit wrap.
    static std::uint64_t ticks_after(std::uint64_t elapsed_ns);

    std::string_view name() const override { return "ACPI PM timer"; }
    // The counter's bytes from `offset`, little endian; the top byte reads 0.
    void io_read(std::uint16_t offset, std::span<std::uint8_t> data) override;
    // The counter is read-only: writes are ignored, as on hardware.
    void io_write(std::uint16_t offset, std::span<const std::uint8_t> data) override;

private:
    std::function<std::uint64_t()> now_ns_;
    std::uint64_t start_ns_;
};

}  // namespace berth::devices
