#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <vector>

#include "devices/serial/uart_8250.hpp"

using berth::devices::Uart8250;

namespace {

struct UartFixture {
    std::string output;
    std::vector<bool> irq_edges;
    Uart8250 uart{"test uart", [this](std::uint8_t b) { output.push_back(static_cast<char>(b)); },
                  [this](bool level) { irq_edges.push_back(level); }};

    std::uint8_t in(std::uint16_t reg) {
        std::array<std::uint8_t, 1> data{};
        uart.io_read(reg, data);
        return data[0];
    }
    void out(std::uint16_t reg, std::uint8_t value) {
        const std::array<std::uint8_t, 1> data{value};
        uart.io_write(reg, data);
    }
};

}  // namespace

TEST_CASE("UART transmits what the guest writes to THR", "[uart]") {
    UartFixture f;
    for (char c : std::string("hi\n")) {
        CHECK((f.in(Uart8250::line_status)&0x20) != 0);  // THR empty: ready
        f.out(Uart8250::data, static_cast<std::uint8_t>(c));
    }
    CHECK(f.output == "hi\n");
}

TEST_CASE("UART divisor latch hides THR and IER", "[uart]") {
    UartFixture f;
    f.out(Uart8250::line_control, 0x80);
    f.out(Uart8250::data, 0x01);
    f.out(Uart8250::interrupt_enable, 0x02);
    CHECK(f.in(Uart8250::data) == 0x01);
    CHECK(f.in(Uart8250::interrupt_enable) == 0x02);
    f.out(Uart8250::line_control, 0x03);
    CHECK(f.output.empty());                       // divisor writes are not data
    CHECK(f.in(Uart8250::interrupt_enable) == 0);  // IER untouched
    CHECK(f.in(Uart8250::line_control) == 0x03);
}

TEST_CASE("UART scratch register keeps its value", "[uart]") {
    UartFixture f;
    f.out(Uart8250::scratch, 0x5a);
    CHECK(f.in(Uart8250::scratch) == 0x5a);
}

TEST_CASE("UART receives host bytes through a 16-byte FIFO", "[uart]") {
    UartFixture f;
    CHECK((f.in(Uart8250::line_status)&0x01) == 0);
    const std::string text(20, 'x');
    const std::size_t taken =
        f.uart.receive({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
    CHECK(taken == Uart8250::fifo_size);
    CHECK((f.in(Uart8250::line_status)&0x01) != 0);
    for (std::size_t i = 0; i < taken; ++i) {
        CHECK(f.in(Uart8250::data) == 'x');
    }
    CHECK((f.in(Uart8250::line_status)&0x01) == 0);
}

TEST_CASE("UART raises and clears interrupts by 16550A rules", "[uart]") {
    UartFixture f;
    CHECK((f.in(Uart8250::interrupt_id)&0x01) == 1);  // nothing pending
    f.out(Uart8250::interrupt_enable, 0x01);          // received data available
    const std::array<std::uint8_t, 1> byte{'a'};
    f.uart.receive(byte);
    CHECK((f.in(Uart8250::interrupt_id)&0x0f) == 0x04);
    REQUIRE(f.irq_edges == std::vector<bool>{true});
    CHECK(f.in(Uart8250::data) == 'a');
    CHECK((f.in(Uart8250::interrupt_id)&0x01) == 1);
    CHECK(f.irq_edges == std::vector<bool>{true, false});

    // Enabling the transmitter interrupt raises it at once (THR is empty); reading
    // IIR acknowledges it; the next transmitted byte raises it again.
    f.out(Uart8250::interrupt_enable, 0x02);
    CHECK((f.in(Uart8250::interrupt_id)&0x0f) == 0x02);
    CHECK((f.in(Uart8250::interrupt_id)&0x01) == 1);
    f.out(Uart8250::data, 'b');
    CHECK((f.in(Uart8250::interrupt_id)&0x0f) == 0x02);
}

TEST_CASE("UART interrupt reaches the line only with OUT2 set", "[uart]") {
    UartFixture f;
    f.out(Uart8250::modem_control, 0x00);  // OUT2 off
    f.out(Uart8250::interrupt_enable, 0x02);
    CHECK(f.irq_edges.empty());
    f.out(Uart8250::modem_control, 0x08);
    CHECK(f.irq_edges == std::vector<bool>{true});
}

TEST_CASE("UART loopback returns transmitted bytes and mirrors MCR in MSR", "[uart]") {
    UartFixture f;
    f.out(Uart8250::modem_control, 0x10 | 0x0f);
    CHECK((f.in(Uart8250::modem_status)&0xf0) == 0xf0);
    f.out(Uart8250::data, 0x42);
    CHECK(f.output.empty());
    CHECK((f.in(Uart8250::line_status)&0x01) != 0);
    CHECK(f.in(Uart8250::data) == 0x42);
    f.out(Uart8250::modem_control, 0x10);
    CHECK((f.in(Uart8250::modem_status)&0xf0) == 0x00);
}

TEST_CASE("UART FIFO control clears the receiver and shows in IIR", "[uart]") {
    UartFixture f;
    const std::array<std::uint8_t, 2> bytes{'a', 'b'};
    f.uart.receive(bytes);
    f.out(Uart8250::interrupt_id, 0x03);  // enable FIFOs, clear receive FIFO
    CHECK((f.in(Uart8250::line_status)&0x01) == 0);
    CHECK((f.in(Uart8250::interrupt_id)&0xc0) == 0xc0);
}
