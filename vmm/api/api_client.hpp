#pragma once
// The client side of the control API (berth vm ctl SOCKET COMMAND): one request to a
// running VM's API socket (api_server.hpp), its JSON answer printed on stdout.

#include <filesystem>
#include <string_view>
#include <vector>

namespace berth::api {

struct ApiCommand {
    std::string_view name;  // what berth vm ctl takes: "info"
    std::string_view method;
    std::string_view path;  // the endpoint: "/vm"
    // The name of the argument it takes ("DIR"), or empty for none.
    std::string_view argument = {};
};

// info, stats, pause, resume, stop, snapshot DIR.
const std::vector<ApiCommand>& api_commands();

// Sends `command` (one of api_commands()' names, with `argument` when it takes one) to
// the API at `socket` and prints the
// answer's JSON body on stdout; returns 0. Throws berth::Error: bad input when no VM
// serves the path (missing, not a socket, nobody listening), a failure (status 1)
// with the VM's message when it answers with an error or the connection breaks.
int run_api_command(const std::filesystem::path& socket, std::string_view command,
                    const std::string& argument = {});

}  // namespace berth::api
