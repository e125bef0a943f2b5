#pragma once
// Connected unix sockets between two of berth's processes (berth and a container's
// init), and descriptors passed over them (SCM_RIGHTS). Messages, not a byte stream
// (SOCK_SEQPACKET): each send arrives whole, in order, as one receive, and the peer's
// close (or shutdown) reads as the end.

#include <cstddef>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "vmm/common/unique_fd.hpp"

namespace berth {

// A connected pair, both ends close-on-exec. Throws berth::Error.
std::pair<UniqueFd, UniqueFd> message_socket_pair();

// The most descriptors one message carries (a container's setup_done: two per cgroup,
// up to seven cgroups).
constexpr std::size_t max_passed_fds = 16;

// Sends `data` (not empty: that would read as the end) as one message, with a copy of each of
// `fds` attached (at most max_passed_fds). Never raises SIGPIPE: false when the peer is gone
// (EPIPE, ECONNRESET); throws berth::Error on any other failure.
bool send_message(int socket, std::span<const std::byte> data, std::span<const int> fds = {});

struct ReceivedMessage {
    std::size_t size = 0;       // bytes in the buffer; a longer message was cut to fit
    std::vector<UniqueFd> fds;  // the descriptors that came with it (close-on-exec), in order
};

// Waits for the next message and puts it in `buffer`; nullopt once the peer has
// closed its end or shut it down for writing. Throws berth::Error on a failure.
std::optional<ReceivedMessage> receive_message(int socket, std::span<std::byte> buffer);

}  // namespace berth
