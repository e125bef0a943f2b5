#include "devices/legacy/i8042.hpp"

#include <algorithm>

namespace berth::devices {

I8042::State I8042::state() {
    const std::lock_guard lock(mutex_);
    return {{output_.begin(), output_.end()}, control_, pending_command_, self_tested_};
}

void I8042::restore(const State& state) {
    const std::lock_guard lock(mutex_);
    output_.assign(state.output.begin(), state.output.end());
    control_ = state.control;
    pending_command_ = state.pending_command;
    self_tested_ = state.self_tested;
}

namespace {

constexpr std::uint16_t data_offset = 0;
constexpr std::uint16_t command_offset = 4;

constexpr std::uint8_t status_output_full = 0x01;
constexpr std::uint8_t status_system_flag = 0x04;  // set after a passed self-test

constexpr std::uint8_t cmd_read_control = 0x20;
constexpr std::uint8_t cmd_write_control = 0x60;
constexpr std::uint8_t cmd_self_test = 0xaa;
constexpr std::uint8_t cmd_test_keyboard_port = 0xab;
constexpr std::uint8_t cmd_write_output_port = 0xd1;
constexpr std::uint8_t cmd_pulse_first = 0xf0;  // 0xF0-0xFF pulse output lines; bit 0 = reset

constexpr std::uint8_t self_test_passed = 0x55;
constexpr std::uint8_t output_port_reset = 0x01;  // active low: writing 0 resets

}  // namespace

void I8042::io_read(std::uint16_t offset, std::span<std::uint8_t> data) {
    if (data.empty()) {
        return;
    }
    std::lock_guard lock(mutex_);
    std::uint8_t value = 0xff;
    if (offset == command_offset) {
        value = static_cast<std::uint8_t>((output_.empty() ? 0 : status_output_full) |
                                          (self_tested_ ? status_system_flag : 0));
    } else if (offset == data_offset) {
        if (!output_.empty()) {
            value = output_.front();
            output_.pop_front();
        } else {
            value = 0;
        }
    }
    data[0] = value;
    std::fill(data.begin() + 1, data.end(), std::uint8_t{0xff});
}

void I8042::io_write(std::uint16_t offset, std::span<const std::uint8_t> data) {
    if (data.empty()) {
        return;
    }
    bool reset = false;
    {
        std::lock_guard lock(mutex_);
        if (offset == command_offset) {
            const std::uint8_t value = data[0];
            reset = value >= cmd_pulse_first && (value & output_port_reset) == 0;
            if (!reset) {
                command(value);
            }
        } else if (offset == data_offset) {
            reset = pending_command_ == cmd_write_output_port && (data[0] & output_port_reset) == 0;
            if (!reset) {
                data_write(data[0]);
            }
        }
    }
    // Outside the lock: the callback stops the machine.
    if (reset && reset_) {
        reset_();
    }
}

void I8042::command(std::uint8_t value) {
    switch (value) {
        case cmd_read_control:
            output_.push_back(control_);
            break;
        case cmd_self_test:
            self_tested_ = true;
            output_.push_back(self_test_passed);
            break;
        case cmd_test_keyboard_port:
            output_.push_back(0);  // no error
            break;
        case cmd_write_control:
        case cmd_write_output_port:
            pending_command_ = value;
            break;
        default:
            break;  // enable/disable ports and the like: nothing to model
    }
}

void I8042::data_write(std::uint8_t value) {
    if (pending_command_ == cmd_write_control) {
        control_ = value;
    }
    // Without a pending command the byte is for a keyboard that is not there.
    pending_command_ = 0;
}

}  // namespace berth::devices
