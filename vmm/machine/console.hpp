#pragma once
// The guest's console on berth's terminal (COM1 or virtio-console). Output goes
// straight to stdout. Input: a thread reads stdin and feeds the console device. When stdin is a
// terminal it is put in raw mode (so Ctrl-C, arrows and tab reach the guest) and
// restored when the console goes away, or on a fatal signal. As in QEMU, Ctrl-A x
// stops the VM and Ctrl-A Ctrl-A sends one Ctrl-A.

#include <termios.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "vmm/common/event_fd.hpp"
#include "vmm/common/fatal_signal.hpp"
#include "vmm/common/thread.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::machine {

// Raw mode on a terminal for as long as the object lives; nothing when `fd` is not one.
// A fatal signal puts the terminal back before berth dies (a LastWordsHook).
class RawTerminal {
public:
    explicit RawTerminal(int fd);
    ~RawTerminal();
    RawTerminal(const RawTerminal&) = delete;
    RawTerminal& operator=(const RawTerminal&) = delete;

    bool active() const { return active_; }

private:
    int fd_;
    bool active_ = false;
    std::optional<LastWordsHook> last_words_;
};

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
