// berth as an OCI runtime: runc's command line, as podman's conmon, CRI-O and
// containerd's shim call it (`berth --root DIR create --bundle B --pid-file P ID`, then
// start, state, kill, delete). It has no word of berth's own in front, so main sends a
// command line here when its first word is one of runc's global options or commands.
// Errors go to stderr as one line, as every berth error, and also to `--log` in the
// `--log-format` asked for: that is where the caller reads them.

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vmm/cli/command.hpp"
#include "vmm/cli/version.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/oci_runtime.hpp"
#include "vmm/container/oci_spec.hpp"

namespace berth::cli {

namespace {

namespace oci = container::oci;

// /run/berth itself holds the bridge's address leases (net/).
constexpr const char* default_root = "/run/berth/oci";

constexpr std::array oci_words{"create", "start", "state", "kill", "delete"};
constexpr std::array oci_global_options{"--root", "--log", "--log-format", "--debug",
                                        "--systemd-cgroup"};

struct GlobalFlags {
    std::string root = default_root;
    std::string log;
    std::string log_format = "text";
    bool debug = false;
    bool systemd_cgroup = false;
};

// One line in the log file, as logrus (runc's logger) writes it: its callers parse it.
void write_log(const GlobalFlags& flags, std::string_view message) {
    if (flags.log.empty()) {
        return;
    }
    const std::string time = oci::rfc3339_now();
    std::string line;
    if (flags.log_format == "json") {
        line = nlohmann::json{{"level", "error"}, {"msg", message}, {"time", time}}.dump();
    } else {
        line = fmt::format("time=\"{}\" level=error msg={}", time, nlohmann::json(message).dump());
    }
    line += '\n';
    const UniqueFd log(::open(flags.log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
    if (!log || ::write(log.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        fmt::print(stderr, "berth: cannot write the log {}\n", quote(flags.log));
    }
}

int report(const GlobalFlags& flags, std::string_view message, ExitStatus status) {
    const std::string line = one_line(message);
    fmt::print(stderr, "berth: {}\n", line);
    write_log(flags, line);
    return static_cast<int>(status);
}

void check_global_flags(const GlobalFlags& flags) {
    if (flags.systemd_cgroup) {
        throw bad_input(
            "--systemd-cgroup: berth has no systemd cgroup driver (it writes cgroupfs itself); "
            "configure the caller for cgroupfs (podman: --cgroup-manager cgroupfs)");
    }
    if (flags.log_format != "text" && flags.log_format != "json") {
        throw bad_input(
            fmt::format("--log-format {} is not text or json", quote(flags.log_format)));
    }
}

void add_commands(CLI::App& app, const std::shared_ptr<GlobalFlags>& global, Action& action) {
    auto* create = app.add_subcommand("create", "Create a container from a bundle; start runs it");
    auto request = std::make_shared<oci::CreateRequest>();
    request->bundle = ".";
    create->add_option("--bundle,-b", request->bundle, "The bundle (default: .)")->check(non_empty);
    create->add_option("--pid-file", request->pid_file, "Write init's pid here")->check(non_empty);
    create
        ->add_option("--console-socket", request->console_socket,
                     "Unix socket that gets the terminal's master (process.terminal)")
        ->check(non_empty);
    // Accepted and without effect: berth always pivots, and makes no session keyring.
    create->add_flag("--no-pivot")->description("Accepted; berth always uses pivot_root");
    create->add_flag("--no-new-keyring")->description("Accepted; berth makes no session keyring");
    create->add_option("--preserve-fds")
        ->description("Not supported yet (0 only)")
        ->check(CLI::Range(0, 0));
    create->add_option("id", request->id, "Container ID")->required();
    create->callback([global, request, &action] {
        action = [global, request] {
            try {
                oci::create(oci::StateStore(global->root), *request);
            } catch (const Error& e) {
                throw e.with_context(fmt::format("cannot create container {}", quote(request->id)));
            }
            return 0;
        };
    });

    auto id = std::make_shared<std::string>();
    auto* start = app.add_subcommand("start", "Start the command of a created container");
    start->add_option("id", *id, "Container ID")->required();
    start->callback([global, id, &action] {
        action = [global, id] {
            oci::start(oci::StateStore(global->root), *id);
            return 0;
        };
    });

    auto* state = app.add_subcommand("state", "Print a container's state (JSON)");
    state->add_option("id", *id, "Container ID")->required();
    state->callback([global, id, &action] {
        action = [global, id] {
            fmt::print("{}\n", oci::state(oci::StateStore(global->root), *id));
            return 0;
        };
    });

    auto* kill = app.add_subcommand("kill", "Send a signal (default TERM) to a container");
    auto signal = std::make_shared<std::string>("TERM");
    kill->add_flag("--all,-a")->description("Accepted; init passes signals on to the command");
    kill->add_option("id", *id, "Container ID")->required();
    kill->add_option("signal", *signal, "Signal name or number")->check(non_empty);
    kill->callback([global, id, signal, &action] {
        action = [global, id, signal] {
            oci::kill(oci::StateStore(global->root), *id, oci::parse_signal(*signal));
            return 0;
        };
    });

    auto* remove = app.add_subcommand("delete", "Remove a stopped (or, --force, any) container");
    auto force = std::make_shared<bool>(false);
    remove->add_flag("--force,-f", *force, "Kill a running container first");
    remove->add_option("id", *id, "Container ID")->required();
    remove->callback([global, id, force, &action] {
        action = [global, id, force] {
            oci::remove(oci::StateStore(global->root), *id,
                        *force ? oci::DeleteMode::force : oci::DeleteMode::stopped_only);
            return 0;
        };
    });
}

}  // namespace

std::string version_text() {
    return fmt::format("berth {}\nspec: {}", version, oci::spec_version);
}

bool is_oci_command_line(int argc, char** argv) {
    if (argc < 2) {
        return false;
    }
    const std::string_view first = argv[1];
    for (const char* word : oci_words) {
        if (first == word) {
            return true;
        }
    }
    for (const std::string_view option : oci_global_options) {
        if (first == option || (first.starts_with(option) && first.size() > option.size() &&
                                first[option.size()] == '=')) {
            return true;
        }
    }
    return false;
}

int run_oci_command(int argc, char** argv) {
    CLI::App app{"berth as an OCI runtime (runc's command line)"};
    app.name("berth");
    app.set_version_flag("--version", version_text());
    app.require_subcommand(1);
    auto global = std::make_shared<GlobalFlags>();
    app.add_option("--root", global->root, "State directory (default /run/berth/oci)")
        ->check(non_empty);
    app.add_option("--log", global->log, "Also write errors to this file")->check(non_empty);
    app.add_option("--log-format", global->log_format, "text or json")->check(non_empty);
    app.add_flag("--debug", global->debug, "Accepted; berth logs only errors");
    app.add_flag("--systemd-cgroup", global->systemd_cgroup, "Refused: no systemd here");
    Action action;
    add_commands(app, global, action);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        return report(*global, fmt::format("{} (see berth create --help)", e.what()),
                      ExitStatus::bad_input);
    }
    try {
        check_global_flags(*global);
        return action();
    } catch (const Error& e) {
        return report(*global, e.what(), e.status());
    } catch (const std::exception& e) {
        return report(*global, fmt::format("internal error: {}", e.what()), ExitStatus::failure);
    }
}

}  // namespace berth::cli
