#include "vmm/machine/console.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "vmm/common/error.hpp"

namespace berth::machine {

namespace {

constexpr std::uint8_t escape_key = 0x01;  // Ctrl-A
constexpr std::uint8_t quit_key = 'x';

}  // namespace

ConsoleInput::ConsoleInput(int fd, Receiver receiver, EscapeHandler on_escape)
    : fd_(fd), receiver_(std::move(receiver)), on_escape_(std::move(on_escape)) {
    thread_ = Thread("console-input", [this] { run(); });
}

ConsoleInput::~ConsoleInput() {
    stop_.signal();
    thread_.join();
}

bool ConsoleInput::deliver(const std::uint8_t* bytes, std::size_t length) {
    while (length > 0) {
        const std::size_t taken = receiver_(std::span(bytes, length));
        bytes += taken;
        length -= taken;
        if (length > 0) {
            // The guest has not drained its buffer yet: wait a little, or for stop.
            pollfd stop{stop_.fd(), POLLIN, 0};
            if (::poll(&stop, 1, 2) > 0) {
                return false;
            }
        }
    }
    return true;
}

void ConsoleInput::run() {
    std::uint8_t buffer[256];
    for (;;) {
        pollfd fds[2] = {{stop_.fd(), POLLIN, 0}, {fd_, POLLIN, 0}};
        const int ready = ::poll(fds, 2, -1);
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready < 0 || (fds[0].revents & POLLIN) != 0) {
            return;
        }
        if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
            continue;
        }
        const ssize_t got = ::read(fd_, buffer, sizeof buffer);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (got <= 0) {
            // End of input (or an error): the guest keeps running without a keyboard.
            fds[0].revents = 0;
            while (::poll(fds, 1, -1) < 0 && errno == EINTR) {
            }
            return;
        }
        // Pass bytes through, except the escape sequences.
        std::uint8_t out[2 * sizeof buffer];
        std::size_t count = 0;
        for (std::size_t i = 0; i < static_cast<std::size_t>(got); ++i) {
            const std::uint8_t byte = buffer[i];
            if (escape_pending_) {
                escape_pending_ = false;
                if (byte == quit_key) {
                    on_escape_();
                    return;
                }
                // Ctrl-A Ctrl-A sends one Ctrl-A; Ctrl-A + anything else sends both.
                if (byte != escape_key) {
                    out[count++] = escape_key;
                }
                out[count++] = byte;
            } else if (byte == escape_key) {
                escape_pending_ = true;
            } else {
                out[count++] = byte;
            }
        }
        if (!deliver(out, count)) {
            return;
        }
    }
}

void write_console_bytes(std::span<const std::uint8_t> bytes) {
    while (!bytes.empty()) {
        const ssize_t written = ::write(STDOUT_FILENO, bytes.data(), bytes.size());
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written <= 0) {
            return;  // stdout is gone (a closed pipe): the guest's output has nowhere to go
        }
        bytes = bytes.subspan(static_cast<std::size_t>(written));
    }
}

void write_console_byte(std::uint8_t byte) {
    write_console_bytes(std::span(&byte, 1));
}

}  // namespace berth::machine
