#pragma once
// `-t`: a pseudo-terminal for the command. berth holds the user's terminal in raw mode
// meanwhile (common/raw_terminal.hpp) and relays bytes between the two.

#include "vmm/common/unique_fd.hpp"

namespace berth::container {

struct PtyPair {
    UniqueFd master;  // berth's end
    UniqueFd slave;   // becomes the command's stdin, stdout, stderr and controlling tty

    static PtyPair open();
};

// Gives `to` the window size of `from` when `from` is a terminal.
void copy_window_size(int from, int to);

}  // namespace berth::container
