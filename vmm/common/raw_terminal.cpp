#include "vmm/common/raw_terminal.hpp"

#include <termios.h>
#include <unistd.h>

#include <csignal>

namespace berth {

namespace {

// Saved for the last-words hook, which may only use async-signal-safe calls.
struct termios saved_termios;
volatile std::sig_atomic_t saved_fd = -1;

void restore_terminal() {
    if (saved_fd >= 0) {
        ::tcsetattr(saved_fd, TCSANOW, &saved_termios);
    }
}

}  // namespace

RawTerminal::RawTerminal(int fd, Output output) : fd_(fd) {
    if (::isatty(fd) == 0 || ::tcgetattr(fd, &saved_termios) != 0) {
        return;
    }
    // The hook first: it may throw, and a terminal left raw by a throw stays raw.
    last_words_.emplace(restore_terminal);
    saved_fd = fd;
    struct termios raw = saved_termios;
    ::cfmakeraw(&raw);
    if (output == Output::processed) {
        raw.c_oflag |= OPOST;
    }
    if (::tcsetattr(fd, TCSANOW, &raw) != 0) {
        saved_fd = -1;
        last_words_.reset();
        return;
    }
    active_ = true;
}

RawTerminal::~RawTerminal() {
    if (!active_) {
        return;
    }
    last_words_.reset();
    saved_fd = -1;
    ::tcsetattr(fd_, TCSANOW, &saved_termios);
}

}  // namespace berth
