#pragma once
// Just enough of the PC keyboard controller (i8042) for a guest to reset the machine:
// the command port (0x64) and the data port (0x60). There is no keyboard behind it.
// Command 0xFE (pulse the reset line) or writing an output port value with the reset
// bit clear reboots the machine: berth reports it through the callback.

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "devices/bus/port_io_bus.hpp"

namespace berth::devices {

class I8042 : public PortIoDevice {
public:
    // From its base (0x60 on a PC): data at +0, command/status at +4 (+1 is KVM's speaker).
    static constexpr std::uint16_t port_count = 5;
    using ResetLine = std::function<void()>;

    explicit I8042(ResetLine reset) : reset_(std::move(reset)) {}

    std::string_view name() const override { return "i8042 keyboard controller"; }
    void io_read(std::uint16_t offset, std::span<std::uint8_t> data) override;
    void io_write(std::uint16_t offset, std::span<const std::uint8_t> data) override;

    // For snapshots.
    struct State {
        std::vector<std::uint8_t> output;
        std::uint8_t control = 0;
        std::uint8_t pending_command = 0;
        bool self_tested = false;
    };
    State state();
    void restore(const State& state);

private:
    void command(std::uint8_t value);
    void data_write(std::uint8_t value);

    ResetLine reset_;
    std::mutex mutex_;
    std::deque<std::uint8_t> output_;   // bytes waiting for the guest at port 0x60
    std::uint8_t control_ = 0x30;       // keyboard and mouse clocks disabled, no interrupts
    std::uint8_t pending_command_ = 0;  // a command waiting for its data byte
    bool self_tested_ = false;
};

}  // namespace berth::devices
