#pragma once
// The one line between berth and the container's init: a unix socket pair made before
// clone3 (common/unix_socket.hpp), over which each side sends typed messages and waits
// for the ones it needs, in a fixed order.
//
// berth -> init, each once at most and in this order:
//   user_namespace_mapped  init may build its rootfs (rootless: once uid_map and
//                          gid_map are written; as root before clone3, so init never
//                          waits for it)
//   network_namespace      the namespace berth made, attached (as root, not --net
//                          host); init enters it after its rootfs, before /sys
//   setup_done             init's veth is plugged in and its cgroups are made: it may
//                          join them and start the command. With cgroups, the
//                          message carries their membership files (CgroupDoors,
//                          container_cgroup.hpp): `value` files to enter, then as
//                          many to leave by
//   recorded               OCI create: the container is in berth's state, so init may
//                          wait at the start gate. A create that dies before this
//                          (killed, say) leaves no record to find init by: init sees the
//                          channel's end instead and exits, so nothing waits forever
// What berth knows before clone3 is in the socket before init runs, so init waits only
// where berth's part of the set-up (maps, network namespace, cgroups, veth) is still
// running alongside init's rootfs. Once berth has sent all it has (or given up) it
// finishes sending, and init reads the end.
//
// init -> berth:
//   terminal               with -t: the pseudo-terminal's master, attached
//   command_started        the command has exec'd
//   start_failed           init (or the command's process before exec) failed; the
//                          exit status and the error's text, whole: berth reports
//                          "cannot start container: <text>"
//   command_exited         with cgroups: the command's status, as init exits, so that
//                          berth can remove the cgroups while the kernel still tears
//                          the namespaces down
//   awaiting_start         OCI create: the container is built and init waits at its
//                          start gate (start_gate.hpp) instead of starting the command

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vmm/common/error.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::container {

enum class InitMessage : std::uint8_t {
    user_namespace_mapped = 1,
    network_namespace,
    setup_done,
    terminal,
    command_started,
    start_failed,
    command_exited,
    awaiting_start,
    recorded,
};

const char* name_of(InitMessage kind);

struct InitNote {
    InitMessage kind{};
    int value = 0;     // start_failed: an ExitStatus; command_exited: the command's status;
                       // setup_done: how many cgroups to enter
    std::string text;  // start_failed: what failed
    std::vector<UniqueFd> fds;  // network_namespace, terminal: one; setup_done: see above

    // The descriptor at `index`, moved out; invalid when the message had none there.
    UniqueFd take_fd(std::size_t index = 0);
};

class InitChannel {
public:
    // berth's end and init's end.
    static std::pair<InitChannel, InitChannel> open();

    InitChannel() = default;
    int fd() const { return socket_.get(); }
    // Closes this end (init closes berth's, berth closes init's).
    void close() { socket_.reset(); }

    // False when the other side has gone (its own report, or its exit status, says why).
    bool send(InitMessage kind, int value = 0, std::string_view text = {},
              std::span<const int> fds = {}) const;
    bool send_failure(const Error& error) const;
    // The next message; nullopt once the other side has closed or finished sending.
    std::optional<InitNote> receive() const;
    // Nothing more comes from this side; the other reads the end, and may still answer.
    void finish_sending() const;

private:
    explicit InitChannel(UniqueFd socket) : socket_(std::move(socket)) {}

    UniqueFd socket_;
};

// The error a start_failed message carries.
Error failure_of(const InitNote& note);

}  // namespace berth::container
