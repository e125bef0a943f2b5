#include "vmm/common/phase_clock.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace berth {

namespace {

// The descriptor marks go to; -1 when recording is off. Set once, before any thread
// starts, by the first call (main marks first).
int open_recorder() {
    const char* value = std::getenv("BERTH_PHASES");
    if (value == nullptr || *value == '\0') {
        return -1;
    }
    int fd = -1;
    const char* end = value + std::strlen(value);
    const auto [rest, error] = std::from_chars(value, end, fd);
    if (error == std::errc() && rest == end) {
        if (::fcntl(fd, F_GETFD) < 0) {
            std::fprintf(
                stderr,
                "berth: BERTH_PHASES=%s is not an open file descriptor; phases not recorded\n",
                value);
            return -1;
        }
        return fd;
    }
    fd = ::open(value, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        std::fprintf(stderr, "berth: BERTH_PHASES=%s cannot be opened (%s); phases not recorded\n",
                     value, std::strerror(errno));
    }
    return fd;
}

int recorder_fd() {
    static const int fd = open_recorder();
    return fd;
}

}  // namespace

std::int64_t monotonic_ns() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

std::string_view format_phase_line(std::string_view name, std::int64_t ns, char (&buffer)[96]) {
    const std::size_t name_length = std::min<std::size_t>(name.size(), 64);
    std::memcpy(buffer, name.data(), name_length);
    char* out = buffer + name_length;
    *out++ = ' ';
    out = std::to_chars(out, buffer + sizeof buffer - 1, ns).ptr;
    *out++ = '\n';
    return {buffer, static_cast<std::size_t>(out - buffer)};
}

bool phases_enabled() {
    return recorder_fd() >= 0;
}

void phase_mark(std::string_view name) {
    const int fd = recorder_fd();
    if (fd < 0) {
        return;
    }
    // No allocation and no locks: this also runs in the container's init and command
    // between clone and exec.
    char buffer[96];
    const std::string_view line = format_phase_line(name, monotonic_ns(), buffer);
    ssize_t written;
    do {
        written = ::write(fd, line.data(), line.size());
    } while (written < 0 && errno == EINTR);
}

}  // namespace berth
