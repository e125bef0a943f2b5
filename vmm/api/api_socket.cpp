#include "vmm/api/api_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::api {

namespace {

std::string named(const std::filesystem::path& path) {
    return "API socket " + quote(path.string());
}

}  // namespace

SocketPath probe_socket_path(const std::filesystem::path& path) {
    const std::string text = path.string();
    sockaddr_un address{};
    if (text.empty()) {
        throw bad_input("API socket path is empty; give a file path such as /tmp/vm.sock");
    }
    if (text.size() >= sizeof address.sun_path) {
        throw bad_input(
            fmt::format("{}: the path is {} bytes, longer than a unix socket "
                        "allows ({}); give a shorter path",
                        named(path), text.size(), sizeof address.sun_path - 1));
    }
    struct stat status {};
    if (::lstat(text.c_str(), &status) != 0) {
        if (errno == ENOENT) {
            return SocketPath::absent;
        }
        throw Error(errno_message(named(path) + ": cannot look at it", errno),
                    ExitStatus::bad_input);
    }
    if (!S_ISSOCK(status.st_mode)) {
        return SocketPath::not_a_socket;
    }
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe) {
        throw_errno("cannot create a unix socket", errno);
    }
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
    if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
        return SocketPath::listening;
    }
    if (errno == ECONNREFUSED) {
        return SocketPath::stale;
    }
    throw Error(errno_message(named(path) + ": cannot connect", errno), ExitStatus::bad_input);
}

void claim_socket_path(const std::filesystem::path& path) {
    switch (probe_socket_path(path)) {
        case SocketPath::absent:
            return;
        case SocketPath::stale:
            if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
                throw Error(errno_message(named(path) + ": cannot remove this stale socket", errno),
                            ExitStatus::bad_input);
            }
            return;
        case SocketPath::listening:
            throw bad_input(
                fmt::format("{}: another process listens on it (a running berth?); give "
                            "another path, or stop that process",
                            named(path)));
        case SocketPath::not_a_socket:
            throw bad_input(fmt::format(
                "{}: the path exists and is not a socket; give a path that does not exist",
                named(path)));
    }
}

}  // namespace berth::api
