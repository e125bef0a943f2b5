#pragma once
// The guest's console on berth's terminal (COM1 or virtio-console). Output goes
// straight to stdout. Input: a thread reads stdin and feeds the console device; when
// stdin is a terminal, linux_vm holds it in raw mode meanwhile (common/raw_terminal.hpp)
// so that Ctrl-C, arrows and tab reach the guest. As in QEMU, Ctrl-A x stops the VM and
// Ctrl-A Ctrl-A sends one Ctrl-A.

#include <cstdint>
#include <functional>
#include <span>

#include "vmm/common/event_fd.hpp"
#include "vmm/common/raw_terminal.hpp"  // linux_vm puts stdin in raw mode with the console
#include "vmm/common/thread.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::machine {

class ConsoleInput {
public:
    using EscapeHandler = std::function<void()>;
    // Offers input bytes to the console device; returns how many it took (the rest
    // is offered again shortly, as the guest drains its buffers).
    using Receiver = std::function<std::size_t(std::span<const std::uint8_t>)>;

    // Starts the reader thread on `fd` (usually stdin).
    ConsoleInput(int fd, Receiver receiver, EscapeHandler on_escape);
    // Stops and joins the reader.
    ~ConsoleInput();
    ConsoleInput(const ConsoleInput&) = delete;
    ConsoleInput& operator=(const ConsoleInput&) = delete;

private:
    void run();
    // Hands bytes to the UART, waiting while its FIFO is full; false when stopping.
    bool deliver(const std::uint8_t* bytes, std::size_t length);

    int fd_;
    Receiver receiver_;
    EscapeHandler on_escape_;
    EventFd stop_;
    bool escape_pending_ = false;
    Thread thread_;
};

// Writes one guest byte, or a run of them, to stdout, unbuffered.
void write_console_byte(std::uint8_t byte);
void write_console_bytes(std::span<const std::uint8_t> bytes);

}  // namespace berth::machine
