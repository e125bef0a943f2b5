#pragma once
// The sleep control and status registers of a hardware-reduced ACPI platform
// (ACPI 6, 4.8.3.7), one byte each on consecutive ports. Writing SLP_EN with a
// SLP_TYP asks the platform to enter that sleep state; berth only offers S5 (soft
// off), which the DSDT advertises, and reports it through the callback.

#include <cstdint>
#include <functional>

#include "devices/bus/port_io_bus.hpp"

namespace berth::devices {

class AcpiSleepControl : public PortIoDevice {
public:
    static constexpr std::uint16_t port_count = 2;  // control, status
    static constexpr std::uint8_t sleep_enable = 0x20;
    static constexpr std::uint8_t sleep_type_shift = 2;
    static constexpr std::uint8_t sleep_type_mask = 0x7;
    using SleepRequest = std::function<void(std::uint8_t sleep_type)>;

    explicit AcpiSleepControl(SleepRequest on_sleep) : on_sleep_(std::move(on_sleep)) {}

    std::string_view name() const override { return "ACPI sleep control"; }
    void io_read(std::uint16_t, std::span<std::uint8_t> data) override {
        // Status: never woken, nothing pending.
        std::fill(data.begin(), data.end(), std::uint8_t{0});
    }
    void io_write(std::uint16_t offset, std::span<const std::uint8_t> data) override {
        if (offset != 0 || data.empty() || (data[0] & sleep_enable) == 0) {
            return;
        }
        if (on_sleep_) {
            on_sleep_(static_cast<std::uint8_t>((data[0] >> sleep_type_shift) & sleep_type_mask));
        }
    }

private:
    SleepRequest on_sleep_;
};

}  // namespace berth::devices
