#include "vmm/api/api_client.hpp"

#include <sys/socket.h>

#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "vmm/api/api_socket.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth::api {

namespace {

// A snapshot writes the guest's RAM: about a second per GiB on hardware, much slower in
// an emulated rig; nothing else the API does takes as long.
constexpr time_t answer_timeout_seconds = 300;

std::string named(const std::filesystem::path& socket) {
    return "API socket " + quote(socket.string());
}

}  // namespace

const std::vector<ApiCommand>& api_commands() {
    static const std::vector<ApiCommand> commands = {
        {"info", "GET", "/vm"},
        {"stats", "GET", "/vm/stats"},
        {"pause", "PUT", "/vm/pause"},
        {"resume", "PUT", "/vm/resume"},
        {"shutdown", "PUT", "/vm/shutdown"},
        {"stop", "PUT", "/vm/stop"},
        {"snapshot", "PUT", "/vm/snapshot", "DIR"},
    };
    return commands;
}

int run_api_command(const std::filesystem::path& socket, std::string_view name,
                    const std::string& argument) {
    const ApiCommand* command = nullptr;
    for (const auto& one : api_commands()) {
        if (one.name == name) {
            command = &one;
        }
    }
    if (command == nullptr) {
        throw bad_input(fmt::format(
            "no API command {}; give info, stats, pause, resume, shutdown, stop or snapshot DIR",
            quote(name)));
    }
    if (command->argument.empty() != argument.empty()) {
        throw bad_input(
            command->argument.empty()
                ? fmt::format("{} takes no argument; drop {}", name, quote(argument))
                : fmt::format("{} needs {}; give it after {}", name, command->argument, name));
    }
    std::string request_body;
    if (!argument.empty()) {
        // The VM resolves no relative path against our working directory: send it whole.
        std::error_code error;
        request_body =
            nlohmann::json{{"snapshot_path", std::filesystem::absolute(argument, error).string()}}
                .dump();
    }
    switch (probe_socket_path(socket)) {
        case SocketPath::listening:
            break;
        case SocketPath::absent:
            throw bad_input(
                fmt::format("{}: no such file; give the --api-socket path of a "
                            "running `berth vm run`",
                            named(socket)));
        case SocketPath::not_a_socket:
            throw bad_input(
                fmt::format("{}: not a socket; give the --api-socket path of a "
                            "running `berth vm run`",
                            named(socket)));
        case SocketPath::stale:
            throw bad_input(fmt::format(
                "{}: nobody listens on it (its VM has ended); start one with `berth vm run "
                "--api-socket`",
                named(socket)));
    }
    // With AF_UNIX, httplib takes the "host" for the socket's path.
    httplib::Client client(socket.string(), 0);
    client.set_address_family(AF_UNIX);
    client.set_read_timeout(answer_timeout_seconds);
    const std::string path(command->path);
    const auto result = command->method == "GET"
                            ? client.Get(path)
                            : client.Put(path, request_body, "application/json");
    if (!result) {
        throw Error(fmt::format("{}: {} {} failed: {}", named(socket), command->method, path,
                                httplib::to_string(result.error())));
    }
    if (result->status >= 200 && result->status < 300) {
        std::fputs(result->body.c_str(), stdout);
        return 0;
    }
    const auto body = nlohmann::json::parse(result->body, nullptr, false);
    const std::string message =
        body.is_object() && body.contains("error") && body["error"].is_string()
            ? body["error"].get<std::string>()
            : one_line(result->body);
    throw Error(fmt::format("{} {}: the VM answered {}: {}", command->method, path, result->status,
                            message));
}

}  // namespace berth::api
