#pragma once
// `-t`: a pseudo-terminal for the command, and the user's terminal put in raw mode
// while berth relays bytes, restored on every way out (RAII).

#include <termios.h>

#include "vmm/common/unique_fd.hpp"

namespace berth::container {

struct PtyPair {
    UniqueFd master;  // berth's end
    UniqueFd slave;   // becomes the command's stdin, stdout, stderr and controlling tty

    static PtyPair open();
};

class RawTerminal {
public:
    // Does nothing when `fd` is not a terminal.
    explicit RawTerminal(int fd);
    ~RawTerminal();
    RawTerminal(const RawTerminal&) = delete;
    RawTerminal& operator=(const RawTerminal&) = delete;

private:
    int fd_;
    bool active_ = false;
    termios saved_{};
};

// Gives `to` the window size of `from` when `from` is a terminal.
void copy_window_size(int from, int to);

}  // namespace berth::container
