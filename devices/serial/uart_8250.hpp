#pragma once
// An 8250/16550A UART, the PC serial port. The guest sees eight registers at
// base..base+7 (COM1 is 0x3f8, IRQ 4). Bytes the guest transmits go straight to an
// output sink (no baud-rate delay: the transmitter is always empty again at once);
// bytes the host receives wait in a 16-byte FIFO until the guest reads them.
// Interrupts follow the 16550A: received data, transmitter empty, modem status,
// reported one at a time through IIR by priority.

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "devices/bus/port_io_bus.hpp"

namespace berth::devices {

class Uart8250 : public PortIoDevice {
public:
    // Register offsets from the base port.
    enum Register : std::uint16_t {
        data = 0,              // RBR (read) / THR (write); DLL when LCR.DLAB
        interrupt_enable = 1,  // IER; DLM when LCR.DLAB
        interrupt_id = 2,      // IIR (read) / FCR (write)
        line_control = 3,      // LCR
        modem_control = 4,     // MCR
        line_status = 5,       // LSR
        modem_status = 6,      // MSR
        scratch = 7,           // SCR
    };
    static constexpr std::uint16_t register_count = 8;
    static constexpr std::size_t fifo_size = 16;

    using OutputSink = std::function<void(std::uint8_t byte)>;
    using InterruptLine = std::function<void(bool level)>;

    Uart8250(std::string name, OutputSink output, InterruptLine interrupt = {});

    std::string_view name() const override { return name_; }
    void io_read(std::uint16_t offset, std::span<std::uint8_t> data) override;
    void io_write(std::uint16_t offset, std::span<const std::uint8_t> data) override;

    // Host side: offers bytes to the receiver; returns how many fit into the FIFO.
    std::size_t receive(std::span<const std::uint8_t> bytes);

    // Every register and the receive FIFO, for snapshots. restore() also sets the
    // interrupt line to the level the state implies.
    struct State {
        std::vector<std::uint8_t> receive_fifo;
        std::uint8_t interrupt_enable = 0;
        std::uint8_t line_control = 0;
        std::uint8_t modem_control = 0;
        std::uint8_t scratch = 0;
        std::uint8_t fifo_control = 0;
        std::uint8_t divisor_low = 0;
        std::uint8_t divisor_high = 0;
        bool transmit_empty_interrupt = false;
    };
    State state();
    void restore(const State& state);

private:
    std::uint8_t read_register(std::uint16_t offset);
    void write_register(std::uint16_t offset, std::uint8_t value);
    void transmit(std::uint8_t byte);
    std::uint8_t pending_interrupt_id() const;
    std::uint8_t modem_status_value() const;
    void update_interrupt_line();

    std::string name_;
    OutputSink output_;
    InterruptLine interrupt_;

    std::mutex mutex_;
    std::deque<std::uint8_t> receive_fifo_;
    std::uint8_t interrupt_enable_ = 0;
    std::uint8_t line_control_ = 0x03;   // 8 data bits, no parity, 1 stop bit
    std::uint8_t modem_control_ = 0x08;  // OUT2: lets the interrupt reach the PIC
    std::uint8_t scratch_ = 0;
    std::uint8_t fifo_control_ = 0;
    std::uint8_t divisor_low_ = 0x0c;  // 9600 baud; the value is only stored
    std::uint8_t divisor_high_ = 0;
    bool transmit_empty_interrupt_ = false;
    bool interrupt_level_ = false;
};

}  // namespace berth::devices
