#pragma once
// What an OCI runtime hands its caller besides its status: the pseudo-terminal's master
// over the caller's --console-socket (one message with the descriptor, as runc sends
// it), and a process's pid in --pid-file. Shared by create, run and exec.

#include <sys/types.h>

#include <string>

#include "vmm/common/unique_fd.hpp"

namespace berth::container::oci {

// Connects to the caller's console socket, before anything is made, so that a wrong path
// is bad input that leaves nothing behind.
UniqueFd connect_console_socket(const std::string& path);
// Sends `master` over `socket`. Throws Error when the other end has closed.
void send_console(const UniqueFd& socket, const UniqueFd& master);
// Writes `pid` to `path` (atomically).
void write_pid_file(const std::string& path, pid_t pid);

}  // namespace berth::container::oci
