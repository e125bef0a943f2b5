#pragma once
// The path of a control API socket, as the server claims it and the client finds it.
// A path left behind by a berth that died (a socket file nobody listens on) is stale:
// the server may take it over; anything else already there is refused.

#include <filesystem>

namespace berth::api {

enum class SocketPath {
    absent,        // nothing at the path
    listening,     // a socket someone accepts connections on
    stale,         // a socket file nobody listens on
    not_a_socket,  // a file, directory, ...
};

// What is at `path` now; throws a bad_input berth::Error for a path no unix socket
// can have (too long, empty).
SocketPath probe_socket_path(const std::filesystem::path& path);

// For the server: makes `path` free (removes a stale socket) or throws a bad_input
// berth::Error that names the path and what to do.
void claim_socket_path(const std::filesystem::path& path);

}  // namespace berth::api
