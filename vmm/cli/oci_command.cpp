// berth as an OCI runtime: runc's command line, as podman's conmon, CRI-O and
// containerd's shim call it (`berth --root DIR create --bundle B --pid-file P ID`, then
// start, state, kill, delete). It has no word of berth's own in front, so main sends a
// command line here when its first word is one of runc's global options or commands.
// Errors go to stderr as one line, as every berth error, and also to `--log` in the
// `--log-format` asked for: that is where the caller reads them.

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vmm/cli/command.hpp"
#include "vmm/cli/version.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/parse_number.hpp"
#include "vmm/common/process.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/oci_documents.hpp"
#include "vmm/container/oci_exec.hpp"
#include "vmm/container/oci_runtime.hpp"
#include "vmm/container/oci_spec.hpp"

namespace berth::cli {

namespace {

namespace oci = container::oci;

// /run/berth itself holds the bridge's address leases (net/).
constexpr const char* default_root = "/run/berth/oci";

constexpr std::array oci_words{"create", "start", "state", "kill",   "delete",   "run",  "exec",
                               "ps",     "list",  "pause", "resume", "features", "spec", "update"};
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

// create's and run's flags.
void add_create_flags(CLI::App* command, oci::CreateRequest& request) {
    request.bundle = ".";
    command->add_option("--bundle,-b", request.bundle, "The bundle (default: .)")->check(non_empty);
    command->add_option("--pid-file", request.pid_file, "Write init's pid here")->check(non_empty);
    command
        ->add_option("--console-socket", request.console_socket,
                     "Unix socket that gets the terminal's master (process.terminal)")
        ->check(non_empty);
    // Accepted and without effect: berth always pivots, and makes no session keyring.
    command->add_flag("--no-pivot")->description("Accepted; berth always uses pivot_root");
    command->add_flag("--no-new-keyring")->description("Accepted; berth makes no session keyring");
    command
        ->add_option("--preserve-fds", request.preserve_fds,
                     "Pass descriptors 3 to 3+N-1 on to the command")
        ->check(CLI::Range(0, 1024));
    command->add_option("id", request.id, "Container ID")->required();
}

// All of stdin (`update --resources -`), at most `limit` bytes.
std::vector<std::uint8_t> read_stdin(std::size_t limit) {
    std::vector<std::uint8_t> bytes;
    std::uint8_t buffer[4096];
    ssize_t got;
    while ((got = ::read(0, buffer, sizeof buffer)) != 0) {
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_errno("cannot read stdin", errno);
        }
        bytes.insert(bytes.end(), buffer, buffer + got);
        if (bytes.size() > limit) {
            throw bad_input(fmt::format("is more than {} bytes", limit));
        }
    }
    return bytes;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> widths;
    for (const auto& row : rows) {
        widths.resize(std::max(widths.size(), row.size()));
        for (std::size_t i = 0; i < row.size(); ++i) {
            widths[i] = std::max(widths[i], row[i].size());
        }
    }
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += i + 1 == row.size() ? row[i] : fmt::format("{:<{}}   ", row[i], widths[i]);
        }
        fmt::print("{}\n", line);
    }
}

void check_format(const std::string& format) {
    if (format != "table" && format != "json") {
        throw bad_input(fmt::format("--format {} is not table or json", quote(format)));
    }
}

// `ps --format table`: ps's own table (ps -ef, or the arguments given), the rows of the
// container's processes only, as runc prints it.
int print_ps_table(const std::vector<pid_t>& pids, const std::vector<std::string>& ps_arguments) {
    std::vector<std::string> argv{"ps"};
    if (ps_arguments.empty()) {
        argv.emplace_back("-ef");
    } else {
        argv.insert(argv.end(), ps_arguments.begin(), ps_arguments.end());
    }
    const UniqueFd output(::memfd_create("berth-ps", MFD_CLOEXEC));
    if (!output) {
        throw_errno("cannot make a file for ps's output", errno);
    }
    SpawnRequest request(argv);
    request.descriptors = {{output.get(), 1}};
    const int status = run_to_end(request);
    if (status != 0) {
        throw Error(fmt::format("ps {} failed with status {}", quote(argv[1]), status));
    }
    std::string text;
    char buffer[4096];
    ssize_t got;
    ::lseek(output.get(), 0, SEEK_SET);
    while ((got = ::read(output.get(), buffer, sizeof buffer)) > 0) {
        text.append(buffer, static_cast<std::size_t>(got));
    }
    std::istringstream lines(text);
    std::string header;
    std::getline(lines, header);
    // The PID column: the header's word "PID".
    std::istringstream words(header);
    std::size_t column = 0;
    std::string word;
    bool found = false;
    while (words >> word) {
        if (word == "PID") {
            found = true;
            break;
        }
        ++column;
    }
    if (!found) {
        throw bad_input(
            "ps's output has no PID column; give ps options that print one (-o pid,...)");
    }
    fmt::print("{}\n", header);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::string field;
        for (std::size_t i = 0; i <= column && fields >> field; ++i) {
        }
        int pid = 0;
        if (parse_whole_number(field, pid) &&
            std::find(pids.begin(), pids.end(), pid) != pids.end()) {
            fmt::print("{}\n", line);
        }
    }
    return 0;
}

void add_more_commands(CLI::App& app, const std::shared_ptr<GlobalFlags>& global, Action& action) {
    auto* run = app.add_subcommand("run", "Create and start a container, wait for it, delete it");
    auto run_request = std::make_shared<oci::CreateRequest>();
    auto detach = std::make_shared<bool>(false);
    add_create_flags(run, *run_request);
    run->add_flag("--detach,-d", *detach, "Return once the command runs (berth delete later)");
    run->callback([global, run_request, detach, &action] {
        action = [global, run_request, detach] {
            return oci::run(oci::StateStore(global->root), *run_request, *detach);
        };
    });

    auto* exec = app.add_subcommand("exec", "Run another process in a running container");
    auto exec_request = std::make_shared<oci::ExecRequest>();
    exec->add_option("--process,-p", exec_request->process_file,
                     "A runtime-spec process (JSON) instead of the command line")
        ->check(non_empty);
    exec->add_flag("--detach,-d", exec_request->detach, "Return once the process runs");
    exec->add_option("--pid-file", exec_request->pid_file, "Write the process's pid here")
        ->check(non_empty);
    exec->add_option("--console-socket", exec_request->console_socket,
                     "Unix socket that gets the terminal's master (-t)")
        ->check(non_empty);
    exec->add_flag("--tty,-t", exec_request->tty, "Give the process a terminal");
    exec->add_option("--cwd", exec_request->cwd, "Working directory in the container")
        ->check(non_empty);
    exec->add_option("--env,-e", exec_request->env, "K=V added to the environment");
    exec->add_option("--user,-u", exec_request->user, "UID[:GID]")->check(non_empty);
    exec->add_option("--preserve-fds", exec_request->preserve_fds,
                     "Pass descriptors 3 to 3+N-1 on to the process")
        ->check(CLI::Range(0, 1024));
    exec->add_option("id", exec_request->id, "Container ID")->required();
    // After the ID everything is the command's, its options included.
    exec->prefix_command();
    exec->footer("After the ID: the command and its arguments (unless --process)");
    exec->callback([global, exec_request, exec, &action] {
        exec_request->command = exec->remaining();
        action = [global, exec_request] {
            return oci::exec(oci::StateStore(global->root), *exec_request);
        };
    });

    auto id = std::make_shared<std::string>();
    auto format = std::make_shared<std::string>("table");
    auto* ps = app.add_subcommand("ps", "List a container's processes");
    auto ps_arguments = std::make_shared<std::vector<std::string>>();
    ps->add_option("--format,-f", *format, "table (ps's own) or json (host pids)");
    ps->add_option("id", *id, "Container ID")->required();
    ps->add_option("ps-options", *ps_arguments, "Options for ps in place of -ef");
    ps->callback([global, id, format, ps_arguments, &action] {
        action = [global, id, format, ps_arguments] {
            check_format(*format);
            const std::vector<pid_t> pids = oci::processes(oci::StateStore(global->root), *id);
            if (*format == "json") {
                fmt::print("{}\n", nlohmann::json(pids).dump());
                return 0;
            }
            return print_ps_table(pids, *ps_arguments);
        };
    });

    auto* list = app.add_subcommand("list", "List the containers under --root");
    auto quiet = std::make_shared<bool>(false);
    list->add_option("--format,-f", *format, "table or json");
    list->add_flag("--quiet,-q", *quiet, "IDs only");
    list->callback([global, format, quiet, &action] {
        action = [global, format, quiet] {
            check_format(*format);
            const auto containers = oci::list(oci::StateStore(global->root));
            if (*quiet) {
                for (const auto& entry : containers) {
                    fmt::print("{}\n", entry.record.id);
                }
            } else if (*format == "json") {
                nlohmann::json array = nlohmann::json::array();
                for (const auto& entry : containers) {
                    const auto& record = entry.record;
                    const bool stopped = entry.status == oci::Status::stopped;
                    nlohmann::json item = {{"ociVersion", std::string(oci::spec_version)},
                                           {"id", record.id},
                                           {"pid", stopped ? 0 : record.pid},
                                           {"status", oci::name_of(entry.status)},
                                           {"bundle", record.bundle},
                                           {"rootfs", record.rootfs},
                                           {"created", record.created},
                                           {"owner", entry.owner}};
                    if (!record.annotations.empty()) {
                        item["annotations"] = record.annotations;
                    }
                    array.push_back(std::move(item));
                }
                fmt::print("{}\n", array.dump());
            } else {
                std::vector<std::vector<std::string>> rows{
                    {"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"}};
                for (const auto& entry : containers) {
                    const bool stopped = entry.status == oci::Status::stopped;
                    rows.push_back({entry.record.id, std::to_string(stopped ? 0 : entry.record.pid),
                                    oci::name_of(entry.status), entry.record.bundle,
                                    entry.record.created, entry.owner});
                }
                print_table(rows);
            }
            return 0;
        };
    });

    auto* pause = app.add_subcommand("pause", "Freeze a container's processes");
    pause->add_option("id", *id, "Container ID")->required();
    pause->callback([global, id, &action] {
        action = [global, id] {
            oci::pause(oci::StateStore(global->root), *id);
            return 0;
        };
    });
    auto* resume = app.add_subcommand("resume", "Thaw a paused container");
    resume->add_option("id", *id, "Container ID")->required();
    resume->callback([global, id, &action] {
        action = [global, id] {
            oci::resume(oci::StateStore(global->root), *id);
            return 0;
        };
    });

    auto* update = app.add_subcommand("update", "Set new cgroup limits of a container");
    auto resources_file = std::make_shared<std::string>();
    update
        ->add_option("--resources,-r", *resources_file,
                     "A runtime-spec linux.resources object (JSON), or - for stdin")
        ->required()
        ->check(non_empty);
    update->add_option("id", *id, "Container ID")->required();
    update->callback([global, id, resources_file, &action] {
        action = [global, id, resources_file] {
            const bool from_stdin = *resources_file == "-";
            std::vector<std::uint8_t> bytes;
            oci::Resources resources;
            try {
                bytes = from_stdin ? read_stdin(1 << 20)
                                   : read_input_file(*resources_file, "resources file", 1 << 20);
                resources = oci::parse_resources_document(
                    std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
            } catch (const Error& e) {
                throw e.with_context(
                    fmt::format("--resources {}", from_stdin ? "-" : quote(*resources_file)));
            }
            oci::update(oci::StateStore(global->root), *id, resources);
            return 0;
        };
    });

    app.add_subcommand("features", "What this runtime supports (runtime-spec features.md)")
        ->callback([&action] {
            action = [] {
                fmt::print("{}\n", oci::features_json());
                return 0;
            };
        });

    auto* spec = app.add_subcommand("spec", "Write a default config.json into the bundle");
    auto bundle = std::make_shared<std::string>(".");
    auto rootless = std::make_shared<bool>(false);
    spec->add_option("--bundle,-b", *bundle, "The bundle (default: .)")->check(non_empty);
    spec->add_flag("--rootless", *rootless, "Refused: berth's OCI runtime runs as root");
    spec->callback([bundle, rootless, &action] {
        action = [bundle, rootless] {
            if (*rootless) {
                throw bad_input(
                    "spec --rootless: berth's OCI runtime takes no user namespace from "
                    "config.json yet; run it as root");
            }
            oci::write_default_spec(*bundle);
            return 0;
        };
    });
}

void add_commands(CLI::App& app, const std::shared_ptr<GlobalFlags>& global, Action& action) {
    auto* create = app.add_subcommand("create", "Create a container from a bundle; start runs it");
    auto request = std::make_shared<oci::CreateRequest>();
    add_create_flags(create, *request);
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
    add_more_commands(app, global, action);
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
        return report(*global, fmt::format("{} (see berth --help)", e.what()),
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
