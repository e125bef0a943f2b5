#include "vmm/container/oci_handoff.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <span>
#include <string_view>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unix_socket.hpp"

namespace berth::container::oci {

UniqueFd connect_console_socket(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) {
        throw bad_input(
            fmt::format("--console-socket {}: the path is longer than a unix socket's "
                        "({} bytes at most)",
                        quote(path), sizeof address.sun_path - 1));
    }
    path.copy(address.sun_path, path.size());
    UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!socket) {
        throw_errno("cannot make a unix socket", errno);
    }
    if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        throw bad_input(
            errno_message(fmt::format("--console-socket {}: cannot connect", quote(path)), errno));
    }
    return socket;
}

void send_console(const UniqueFd& socket, const UniqueFd& master) {
    constexpr std::string_view payload = "berth-console";
    const int fd = master.get();
    if (!send_message(socket.get(), std::as_bytes(std::span(payload.data(), payload.size())),
                      std::span(&fd, 1))) {
        throw Error("cannot pass the terminal: the console socket's other end has closed");
    }
}

void write_pid_file(const std::string& path, pid_t pid) {
    OutputFile file = OutputFile::create(path, "pid file");
    file.write(std::to_string(pid));
    file.commit();
}

}  // namespace berth::container::oci
