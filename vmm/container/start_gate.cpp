#include "vmm/container/start_gate.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth::container {

UniqueFd make_start_gate(const std::string& path) {
    if (::mkfifo(path.c_str(), 0600) != 0) {
        throw_errno(fmt::format("cannot make the start FIFO {}", quote(path)), errno);
    }
    UniqueFd gate(::open(path.c_str(), O_PATH | O_CLOEXEC));
    if (!gate) {
        throw_errno(fmt::format("cannot open the start FIFO {}", quote(path)), errno);
    }
    return gate;
}

void wait_at_start_gate(const InitChannel& berth, int gate) {
    // berth create returns on this message; a failure to send means it is gone, and
    // with it whoever would have started the container.
    if (!berth.send(InitMessage::awaiting_start)) {
        throw Error("berth create went away before the container was created");
    }
    // Only a recorded container can be started or deleted; a create that died before
    // recording it ends here, and init with it.
    const std::optional<InitNote> recorded = berth.receive();
    if (!recorded || recorded->kind != InitMessage::recorded) {
        throw Error("berth create ended before it recorded the container; nothing will start it");
    }
    // The FIFO's host path is not reachable after pivot_root; its descriptor is, through
    // the container's own /proc.
    const std::string reopen = fmt::format("/proc/self/fd/{}", gate);
    int fd;
    while ((fd = ::open(reopen.c_str(), O_WRONLY | O_CLOEXEC)) < 0 && errno == EINTR) {
    }
    if (fd < 0) {
        throw_errno("cannot open the start FIFO", errno);
    }
    const UniqueFd writer(fd);
    const char byte = 0;
    if (::write(writer.get(), &byte, 1) != 1) {
        throw_errno("cannot pass the start FIFO", errno);
    }
}

void open_start_gate(const std::string& path, const std::function<bool()>& init_alive) {
    // Non-blocking, so that an init that died before reaching the gate cannot leave
    // `start` waiting forever for a writer.
    UniqueFd reader(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!reader) {
        throw_errno(fmt::format("cannot open the start FIFO {}", quote(path)), errno);
    }
    const auto passed = [&] {
        char byte;
        return ::read(reader.get(), &byte, 1) == 1;
    };
    for (;;) {
        pollfd ready{reader.get(), POLLIN, 0};
        if (::poll(&ready, 1, 100) < 0 && errno != EINTR) {
            throw_errno("cannot wait at the start FIFO", errno);
        }
        if (passed()) {
            break;
        }
        // Checked after a read, and read once more: init may write and exit in between.
        if (!init_alive()) {
            if (passed()) {
                break;
            }
            throw Error("the container's init exited before it could start the command");
        }
    }
    ::unlink(path.c_str());
}

}  // namespace berth::container
