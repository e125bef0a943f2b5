#pragma once
// `-t`: a pseudo-terminal for the command. berth holds the user's terminal in raw mode
// meanwhile (common/raw_terminal.hpp) and relays bytes between the two.

#include <cstdint>
#include <optional>

#include "vmm/common/unique_fd.hpp"

namespace berth::container {

// A terminal's size in character cells (OCI process.consoleSize: height, width).
struct WindowSize {
    std::uint16_t rows = 0;
    std::uint16_t columns = 0;
};

struct PtyPair {
    UniqueFd master;  // berth's end
    UniqueFd slave;   // becomes the command's stdin, stdout, stderr and controlling tty

    // With a size, the terminal has it before the command starts (without one, the
    // kernel's 0x0 until berth copies its own terminal's size or the client sets one).
    static PtyPair open(const std::optional<WindowSize>& size = std::nullopt);
};

// Gives `to` the window size of `from` when `from` is a terminal.
void copy_window_size(int from, int to);

}  // namespace berth::container
