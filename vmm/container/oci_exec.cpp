#include "vmm/container/oci_exec.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/process.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/raw_terminal.hpp"
#include "vmm/container/container_cgroup.hpp"
#include "vmm/container/container_init.hpp"
#include "vmm/container/exit_status.hpp"
#include "vmm/container/oci_handoff.hpp"
#include "vmm/container/oci_run_options.hpp"
#include "vmm/container/oci_spec.hpp"
#include "vmm/container/pseudo_terminal.hpp"
#include "vmm/container/supervised_signals.hpp"
#include "vmm/container/supervisor.hpp"

namespace berth::container::oci {

namespace {

// The process to start: --process, or the container's own with the command line's
// changes (as runc builds it).
Process exec_process(const ExecRequest& request, const ContainerRecord& record) {
    if (!request.process_file.empty()) {
        try {
            const std::vector<std::uint8_t> bytes =
                read_input_file(request.process_file, "process file", 1 << 20);
            return parse_process_document(
                std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
        } catch (const Error& e) {
            throw e.with_context(fmt::format("--process {}", quote(request.process_file)));
        }
    }
    if (request.command.empty()) {
        throw bad_input("berth exec needs a command after the container ID, or --process FILE");
    }
    const Spec spec = load_spec(record.bundle);
    if (!spec.process) {
        throw bad_input("config.json: process: is missing; give the process with --process FILE");
    }
    Process process = *spec.process;
    process.args = request.command;
    process.terminal = request.tty;
    return process;
}

// The command line's changes that apply with --process too.
void apply_flags(const ExecRequest& request, RunOptions& options) {
    if (request.tty) {
        options.tty = true;
    }
    if (!request.cwd.empty()) {
        if (request.cwd.front() != '/') {
            throw bad_input(fmt::format("--cwd {} must be an absolute path", quote(request.cwd)));
        }
        options.workdir = request.cwd;
        options.shown_as.workdir = "--cwd";
    }
    for (const auto& entry : request.env) {
        options.env.push_back(parse_env(entry));
    }
    if (!request.user.empty()) {
        const UserSpec user = parse_user(request.user);
        options.user.uid = user.uid;
        options.user.gid = user.gid;
        options.shown_as.user = "--user";
    }
}

// Init's namespaces that differ from berth's: the ones the process joins. Opened while
// init is known to be the container's (its start time checked after).
struct Namespaces {
    UniqueFd pid;
    std::vector<std::pair<int, UniqueFd>> others;  // time, user, the rest, mnt last
    bool user = false;                             // a user namespace of its own
};

Namespaces open_namespaces(const ContainerRecord& record) {
    // Time first: entering it needs CAP_SYS_ADMIN in the user namespace that owns it (the
    // host's, where berth made it), which the process no longer has once it is in the
    // container's user namespace. The container's processes are born into the time
    // namespace init's children get (time_for_children), the one to enter; setns moves
    // the caller itself into a time namespace (it must have one thread, as it does).
    struct Kind {
        const char* ours;
        const char* theirs;
        int type;
    };
    constexpr std::array<Kind, 8> kinds{{{"time", "time_for_children", CLONE_NEWTIME},
                                         {"user", "user", CLONE_NEWUSER},
                                         {"ipc", "ipc", CLONE_NEWIPC},
                                         {"uts", "uts", CLONE_NEWUTS},
                                         {"net", "net", CLONE_NEWNET},
                                         {"cgroup", "cgroup", CLONE_NEWCGROUP},
                                         {"pid", "pid", CLONE_NEWPID},
                                         {"mnt", "mnt", CLONE_NEWNS}}};
    Namespaces namespaces;
    for (const auto& [name, their_name, type] : kinds) {
        const std::string theirs = fmt::format("/proc/{}/ns/{}", record.pid, their_name);
        struct stat ours {};
        struct stat their {};
        if (::stat(fmt::format("/proc/self/ns/{}", name).c_str(), &ours) != 0 ||
            ::stat(theirs.c_str(), &their) != 0) {
            // A kernel without time namespaces (before 5.6) has neither file.
            if (type == CLONE_NEWTIME && errno == ENOENT) {
                continue;
            }
            throw_errno(fmt::format("cannot look at the container's {} namespace", name), errno);
        }
        if (ours.st_ino == their.st_ino && ours.st_dev == their.st_dev) {
            continue;
        }
        UniqueFd fd(::open(theirs.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) {
            throw_errno(fmt::format("cannot open {}", theirs), errno);
        }
        if (type == CLONE_NEWPID) {
            namespaces.pid = std::move(fd);
        } else {
            namespaces.user = namespaces.user || type == CLONE_NEWUSER;
            namespaces.others.emplace_back(type, std::move(fd));
        }
    }
    return namespaces;
}

// The membership files of the container's cgroups (tasks on v1: the process has one
// thread when it moves, see CgroupDoors).
std::vector<UniqueFd> cgroup_doors(const ContainerRecord& record) {
    std::vector<UniqueFd> doors;
    for (const auto& dir : record.cgroups) {
        const std::string tasks = dir + "/tasks";
        const std::string path = ::access(tasks.c_str(), F_OK) == 0 ? tasks : dir + "/cgroup.procs";
        UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd) {
            throw_errno(fmt::format("cannot open {}", quote(path)), errno);
        }
        doors.push_back(std::move(fd));
    }
    return doors;
}

// The forked process, already in the container's pid namespace: into the cgroups and
// the other namespaces, the terminal, then the command's last steps.
[[noreturn]] void run_exec_process(const InitPlan& plan, const Namespaces& namespaces,
                                   const std::vector<UniqueFd>& doors, const InitChannel& berth) {
    try {
        move_self_through(doors);
        apply_process_limits(*plan.options);
        for (const auto& [type, fd] : namespaces.others) {
            if (::setns(fd.get(), type) != 0) {
                throw_errno("cannot join the container's namespaces (setns)", errno);
            }
        }
        std::optional<PtyPair> tty;
        if (plan.terminal) {
            // From the container's own devpts, now that its mounts are ours.
            tty = open_terminal(berth, plan.options->console_size);
        }
        exec_command(plan, plan.command_path, tty ? tty->slave.get() : -1);
    } catch (const Error& e) {
        const Error failure = as_start_failure(e);
        berth.send_failure(failure);
        ::_exit(static_cast<int>(failure.status()));
    } catch (const std::exception& e) {
        berth.send_failure(Error(e.what(), runtime_failure));
        ::_exit(static_cast<int>(runtime_failure));
    }
}

}  // namespace

int exec(const StateStore& store, const ExecRequest& request) {
    check_container_id(request.id);
    const ContainerRecord record = store.load(request.id);
    RunOptions options;
    options.shown_as = config_json_names;
    try {
        apply_process(exec_process(request, record), options);
        apply_flags(request, options);
        // The container's own filter (or none, as it has); never berth's default.
        options.config_seccomp = true;
        options.preserve_fds = request.preserve_fds;
        options.seccomp = store.load_seccomp(request.id);
    } catch (const Error& e) {
        throw e.with_context(fmt::format("cannot exec in container {}", quote(request.id)));
    }
    const Status status = status_of(store, record);
    if (status == Status::stopped) {
        throw Error(fmt::format("cannot exec in container {}: it has stopped", quote(request.id)));
    }
    if (status == Status::paused) {
        throw Error(fmt::format("cannot exec in container {}: it is paused (berth resume it first)",
                                quote(request.id)));
    }
    if (options.tty && request.detach && request.console_socket.empty()) {
        throw bad_input("exec -d with a terminal: give --console-socket, where its master goes");
    }
    if (!options.tty && !request.console_socket.empty()) {
        throw bad_input("--console-socket needs a terminal (-t, or process.terminal true)");
    }
    UniqueFd console;
    if (!request.console_socket.empty()) {
        console = connect_console_socket(request.console_socket);
    }

    const std::vector<std::string> env = container_environment(options);
    const std::string container = fmt::format("container {}", quote(request.id));
    // The container's root as init sees it, its mounts included.
    const std::string command_path = resolve_command(fmt::format("/proc/{}/root", record.pid),
                                                     options.command.front(), env, container);
    const Namespaces namespaces = open_namespaces(record);
    const std::vector<UniqueFd> doors = cgroup_doors(record);
    if (!init_alive(record)) {
        throw Error(fmt::format("cannot exec in {}: it has stopped", container));
    }
    InitPlan plan;
    plan.options = &options;
    plan.command_path = command_path;
    plan.env = env;
    plan.user_namespace = namespaces.user ? UserNamespace::private_ : UserNamespace::shared;
    plan.terminal = options.tty;
    auto [channel, process_end] = InitChannel::open();
    const BlockedSignals blocked;  // supervise() reads them; the process clears the mask
    // berth's children from now on are born in the container's pid namespace (berth
    // itself stays where it is).
    if (namespaces.pid && ::setns(namespaces.pid.get(), CLONE_NEWPID) != 0) {
        throw_errno(fmt::format("cannot enter the pid namespace of {}", container), errno);
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        throw_errno("cannot fork the process to exec", errno);
    }
    if (pid == 0) {
        channel.close();
        run_exec_process(plan, namespaces, doors, process_end);
    }
    ChildProcess process(pid);
    process_end.close();
    UniqueFd master;
    // The terminal's master, then the channel's end at exec (close-on-exec), or the
    // process's error.
    while (std::optional<InitNote> note = channel.receive()) {
        if (note->kind == InitMessage::terminal) {
            master = note->take_fd();
        } else if (note->kind == InitMessage::start_failed) {
            process.wait();
            throw failure_of(*note).with_context(fmt::format("cannot exec in {}", container));
        }
    }
    if (!request.pid_file.empty()) {
        write_pid_file(request.pid_file, pid);
    }
    if (console) {
        send_console(console, master);
        master.reset();
    }
    if (request.detach) {
        process.release();  // it outlives berth
        return 0;
    }
    std::optional<RawTerminal> raw_terminal;
    if (master && ::isatty(0)) {
        copy_window_size(0, master.get());
        raw_terminal.emplace(0, RawTerminal::Output::raw);
    }
    const int exit_status = supervise(process, master.get(), true, nullptr, {});
    return exit_status;
}

}  // namespace berth::container::oci
