#include "devices/serial/uart_8250.hpp"

namespace berth::devices {

namespace {

// Bits of the registers we model (names from the 16550A data sheet).
constexpr std::uint8_t ier_received_data = 0x01;
constexpr std::uint8_t ier_transmit_empty = 0x02;
constexpr std::uint8_t ier_modem_status = 0x08;

constexpr std::uint8_t iir_none = 0x01;
constexpr std::uint8_t iir_transmit_empty = 0x02;
constexpr std::uint8_t iir_received_data = 0x04;
constexpr std::uint8_t iir_fifo_enabled = 0xc0;

constexpr std::uint8_t fcr_enable = 0x01;
constexpr std::uint8_t fcr_clear_receive = 0x02;

constexpr std::uint8_t lcr_divisor_latch = 0x80;

constexpr std::uint8_t mcr_dtr = 0x01;
constexpr std::uint8_t mcr_rts = 0x02;
constexpr std::uint8_t mcr_out1 = 0x04;
constexpr std::uint8_t mcr_out2 = 0x08;
constexpr std::uint8_t mcr_loopback = 0x10;

constexpr std::uint8_t lsr_data_ready = 0x01;
constexpr std::uint8_t lsr_transmit_holding_empty = 0x20;
constexpr std::uint8_t lsr_transmitter_empty = 0x40;

constexpr std::uint8_t msr_cts = 0x10;
constexpr std::uint8_t msr_dsr = 0x20;
constexpr std::uint8_t msr_ri = 0x40;
constexpr std::uint8_t msr_dcd = 0x80;

}  // namespace

Uart8250::Uart8250(std::string name, OutputSink output, InterruptLine interrupt)
    : name_(std::move(name)), output_(std::move(output)), interrupt_(std::move(interrupt)) {}

void Uart8250::io_read(std::uint16_t offset, std::span<std::uint8_t> data) {
    if (data.empty()) {
        return;
    }
    std::lock_guard lock(mutex_);
    // The UART is a byte-wide device: a wider access reads one register and the
    // bus floats high for the rest.
    data[0] = read_register(offset);
    std::fill(data.begin() + 1, data.end(), std::uint8_t{0xff});
    update_interrupt_line();
}

void Uart8250::io_write(std::uint16_t offset, std::span<const std::uint8_t> data) {
    if (data.empty()) {
        return;
    }
    std::lock_guard lock(mutex_);
    write_register(offset, data[0]);
    update_interrupt_line();
}

Uart8250::State Uart8250::state() {
    const std::lock_guard lock(mutex_);
    return {{receive_fifo_.begin(), receive_fifo_.end()},
            interrupt_enable_,
            line_control_,
            modem_control_,
            scratch_,
            fifo_control_,
            divisor_low_,
            divisor_high_,
            transmit_empty_interrupt_};
}

void Uart8250::restore(const State& state) {
    const std::lock_guard lock(mutex_);
    receive_fifo_.assign(state.receive_fifo.begin(), state.receive_fifo.end());
    if (receive_fifo_.size() > fifo_size) {
        receive_fifo_.resize(fifo_size);
    }
    interrupt_enable_ = state.interrupt_enable;
    line_control_ = state.line_control;
    modem_control_ = state.modem_control;
    scratch_ = state.scratch;
    fifo_control_ = state.fifo_control;
    divisor_low_ = state.divisor_low;
    divisor_high_ = state.divisor_high;
    transmit_empty_interrupt_ = state.transmit_empty_interrupt;
    // A new UART's line is low: raise it if the state has an interrupt pending, so
    // that the in-kernel irqchip (restored after the devices) sees the same level.
    interrupt_level_ = false;
    update_interrupt_line();
}

std::size_t Uart8250::receive(std::span<const std::uint8_t> bytes) {
    std::lock_guard lock(mutex_);
    std::size_t taken = 0;
    // In loopback mode the line is disconnected from the outside world.
    if ((modem_control_ & mcr_loopback) == 0) {
        while (taken < bytes.size() && receive_fifo_.size() < fifo_size) {
            receive_fifo_.push_back(bytes[taken++]);
        }
    }
    update_interrupt_line();
    return taken;
}

std::uint8_t Uart8250::read_register(std::uint16_t offset) {
    const bool divisor_latch = (line_control_ & lcr_divisor_latch) != 0;
    switch (offset) {
        case data: {
            if (divisor_latch) {
                return divisor_low_;
            }
            if (receive_fifo_.empty()) {
                return 0;
            }
            const std::uint8_t byte = receive_fifo_.front();
            receive_fifo_.pop_front();
            return byte;
        }
        case interrupt_enable:
            return divisor_latch ? divisor_high_ : interrupt_enable_;
        case interrupt_id: {
            const std::uint8_t id = pending_interrupt_id();
            // Reading IIR acknowledges a transmitter-empty interrupt (16550A rule).
            if (id == iir_transmit_empty) {
                transmit_empty_interrupt_ = false;
            }
            const std::uint8_t fifo_bits = (fifo_control_ & fcr_enable) ? iir_fifo_enabled : 0;
            return static_cast<std::uint8_t>(id | fifo_bits);
        }
        case line_control:
            return line_control_;
        case modem_control:
            return modem_control_;
        case line_status: {
            std::uint8_t status = lsr_transmit_holding_empty | lsr_transmitter_empty;
            if (!receive_fifo_.empty()) {
                status |= lsr_data_ready;
            }
            return status;
        }
        case modem_status:
            return modem_status_value();
        case scratch:
            return scratch_;
        default:
            return 0xff;
    }
}

void Uart8250::write_register(std::uint16_t offset, std::uint8_t value) {
    const bool divisor_latch = (line_control_ & lcr_divisor_latch) != 0;
    switch (offset) {
        case data:
            if (divisor_latch) {
                divisor_low_ = value;
            } else {
                transmit(value);
            }
            break;
        case interrupt_enable:
            if (divisor_latch) {
                divisor_high_ = value;
            } else {
                const bool enabling_transmit = (value & ier_transmit_empty) != 0 &&
                                               (interrupt_enable_ & ier_transmit_empty) == 0;
                interrupt_enable_ = value & 0x0f;
                // The transmitter is always empty, so enabling its interrupt raises it.
                if (enabling_transmit) {
                    transmit_empty_interrupt_ = true;
                }
            }
            break;
        case interrupt_id:
            fifo_control_ = value;
            if (value & fcr_clear_receive) {
                receive_fifo_.clear();
            }
            break;
        case line_control:
            line_control_ = value;
            break;
        case modem_control:
            modem_control_ = value & 0x1f;
            break;
        case scratch:
            scratch_ = value;
            break;
        default:
            // LSR and MSR are read-only; writes to them are ignored, as on hardware.
            break;
    }
}

void Uart8250::transmit(std::uint8_t byte) {
    if (modem_control_ & mcr_loopback) {
        // Loopback: what the guest sends comes back to its own receiver. Linux uses
        // this to check that a UART is really present.
        if (receive_fifo_.size() < fifo_size) {
            receive_fifo_.push_back(byte);
        }
    } else if (output_) {
        output_(byte);
    }
    transmit_empty_interrupt_ = true;
}

std::uint8_t Uart8250::pending_interrupt_id() const {
    if ((interrupt_enable_ & ier_received_data) && !receive_fifo_.empty()) {
        return iir_received_data;
    }
    if ((interrupt_enable_ & ier_transmit_empty) && transmit_empty_interrupt_) {
        return iir_transmit_empty;
    }
    // Modem status never changes outside loopback, so it has no deltas to report.
    (void)ier_modem_status;
    return iir_none;
}

std::uint8_t Uart8250::modem_status_value() const {
    if (modem_control_ & mcr_loopback) {
        std::uint8_t status = 0;
        if (modem_control_ & mcr_rts)
            status |= msr_cts;
        if (modem_control_ & mcr_dtr)
            status |= msr_dsr;
        if (modem_control_ & mcr_out1)
            status |= msr_ri;
        if (modem_control_ & mcr_out2)
            status |= msr_dcd;
        return status;
    }
    // A terminal is always attached: carrier, data set ready, clear to send.
    return msr_dcd | msr_dsr | msr_cts;
}

void Uart8250::update_interrupt_line() {
    // On a PC the UART's interrupt reaches the PIC only through OUT2.
    const bool level = pending_interrupt_id() != iir_none && (modem_control_ & mcr_out2) != 0;
    if (level != interrupt_level_) {
        interrupt_level_ = level;
        if (interrupt_) {
            interrupt_(level);
        }
    }
}

}  // namespace berth::devices
