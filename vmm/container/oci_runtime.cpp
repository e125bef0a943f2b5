#include "vmm/container/oci_runtime.hpp"

#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/parse_number.hpp"
#include "vmm/common/process.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/raw_terminal.hpp"
#include "vmm/common/unix_socket.hpp"
#include "vmm/container/cgroup_freezer.hpp"
#include "vmm/container/cgroup_update.hpp"
#include "vmm/container/container_cgroup.hpp"
#include "vmm/container/container_runtime.hpp"
#include "vmm/container/oci_handoff.hpp"
#include "vmm/container/oci_hooks.hpp"
#include "vmm/container/oci_run_options.hpp"
#include "vmm/container/oci_spec.hpp"
#include "vmm/container/seccomp_cache.hpp"
#include "vmm/container/start_gate.hpp"
#include "vmm/container/supervised_signals.hpp"
#include "vmm/container/supervisor.hpp"

namespace berth::container::oci {

namespace {

std::string bundle_directory(const std::string& bundle) {
    std::error_code error;
    const std::filesystem::path path = std::filesystem::canonical(bundle, error);
    if (error || !std::filesystem::is_directory(path)) {
        throw bad_input(fmt::format("bundle {}: {}", quote(bundle),
                                    error ? error.message() : "is not a directory"));
    }
    return path.string();
}

// Waits until the record's init is gone (it, and with it every process of its pid
// namespace); false after `tries` * 10 ms.
bool wait_for_exit(const ContainerRecord& record, int tries) {
    for (int i = 0; i < tries; ++i) {
        if (!init_alive(record)) {
            return true;
        }
        ::usleep(10000);
    }
    return !init_alive(record);
}

// SIGKILL to every process left in the cgroup `dir`. Init's end kills its pid namespace,
// but in a pid namespace joined by path the command's children outlive it (adopted by
// that namespace's first process); they are still in the container's cgroups.
void kill_cgroup_members(const std::string& dir) {
    std::ifstream procs(dir + "/cgroup.procs");
    pid_t pid = 0;
    while (procs >> pid) {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
        }
    }
}

void remove_cgroups(const ContainerRecord& record) {
    for (const auto& dir : record.cgroups) {
        // The last task may still be leaving the cgroup for a moment.
        int attempt = 0;
        while (::rmdir(dir.c_str()) != 0) {
            if (errno == ENOENT) {
                break;
            }
            if (errno != EBUSY || ++attempt == 500) {
                throw_errno(fmt::format("cannot remove cgroup {}", quote(dir)), errno);
            }
            if (attempt == 50) {
                kill_cgroup_members(dir);  // still busy after 0.1 s: left-behind processes
            }
            ::usleep(2000);
        }
    }
}

// Everything of the container goes: its processes, its cgroups, its state.
void destroy(const StateStore& store, const ContainerRecord& record) {
    const bool alive = init_alive(record);
    if (alive) {
        ::kill(record.pid, SIGKILL);
    }
    // Init's end kills the rest of its pid namespace, but a frozen process dies only once
    // thawed (and may outlive init: a paused container killed).
    const std::string freezer = freezer_directory(record.cgroups);
    if (!freezer.empty() && is_frozen(freezer)) {
        set_frozen(freezer, false);
    }
    if (alive) {
        if (!wait_for_exit(record, 1000)) {
            throw Error(fmt::format("container {}: init (pid {}) did not exit after SIGKILL",
                                    quote(record.id), record.pid));
        }
    }
    remove_cgroups(record);
    store.remove(record.id);
}

// The container's state directory until create has finished: removed (with init
// killed and its cgroups gone) when create fails after making it.
class PendingContainer {
public:
    PendingContainer(const StateStore& store, std::string id) : store_(store) {
        record_.id = std::move(id);
        store_.reserve(record_.id);
    }
    ~PendingContainer() {
        if (!committed_) {
            try {
                destroy(store_, record_);
            } catch (const Error&) {
                // The error that made create fail is the one to report.
            }
        }
    }
    PendingContainer(const PendingContainer&) = delete;
    PendingContainer& operator=(const PendingContainer&) = delete;

    ContainerRecord& record() { return record_; }
    void commit() { committed_ = true; }

private:
    const StateStore& store_;
    ContainerRecord record_;
    bool committed_ = false;
};

}  // namespace

namespace {

// A created container: recorded under --root, init at the gate, still waiting for the
// word that it has been recorded (send_recorded) before it goes on to wait there.
struct Recorded {
    pid_t pid = -1;
    UniqueFd terminal;  // with process.terminal and no console socket: the master
    InitChannel channel;
    void send_recorded() const {
        // An init that has died meanwhile shows as stopped; delete cleans up after it.
        try {
            channel.send(InitMessage::recorded);
        } catch (const Error&) {
        }
    }
};

// The hooks of create, once init waits at the gate (oci_hooks.hpp); a failure
// removes the container (PendingContainer).
void run_create_hooks(const Hooks& hooks, const ContainerRecord& record) {
    if (hooks.prestart.empty() && hooks.create_runtime.empty() && hooks.create_container.empty()) {
        return;
    }
    const std::string state = state_json(record, Status::created);
    try {
        run_hooks(hooks.prestart, "prestart", state, HookPlace::runtime, record.pid);
        run_hooks(hooks.create_runtime, "createRuntime", state, HookPlace::runtime, record.pid);
        run_hooks(hooks.create_container, "createContainer", state, HookPlace::container,
                  record.pid);
    } catch (const Error& e) {
        throw e.with_context(fmt::format("cannot create container {}", quote(record.id)));
    }
}

// config.json's hooks for start and delete, from the bundle as it is now (runc keeps
// its own copy; containerd and podman keep the bundle until delete). None when it is
// gone or unreadable: delete must still work then.
Hooks bundle_hooks(const ContainerRecord& record) {
    try {
        return load_spec(record.bundle).hooks;
    } catch (const Error&) {
        return {};
    }
}

// create, up to the record; `keep_terminal`: without a console socket, the terminal's
// master stays with berth (run relays it).
Recorded create_recorded(const StateStore& store, const CreateRequest& request,
                         bool keep_terminal) {
    check_container_id(request.id);
    // Everything that can be wrong with the input is found before anything is made.
    const std::string bundle = bundle_directory(request.bundle);
    const Spec spec = load_spec(bundle);
    RunOptions options;
    try {
        options = run_options_from(spec, bundle, request.id, seccomp_cache_directory());
        check_hooks(spec.hooks);
    } catch (const Error& e) {
        throw e.with_context("config.json");
    }

    options.preserve_fds = request.preserve_fds;
    if (options.tty && request.console_socket.empty() && !keep_terminal) {
        throw bad_input(
            "process.terminal is true: give --console-socket, where the pseudo-terminal's "
            "master goes");
    }
    if (!options.tty && !request.console_socket.empty()) {
        throw bad_input("--console-socket needs process.terminal true in config.json");
    }
    UniqueFd console;
    if (options.tty) {
        console = connect_console_socket(request.console_socket);
    }

    PendingContainer pending(store, request.id);
    ContainerRecord& record = pending.record();
    record.bundle = bundle;
    record.rootfs = options.rootfs;
    record.annotations = spec.annotations;
    record.created = rfc3339_now();
    Recorded recorded;
    {
        const UniqueFd gate = make_start_gate(store.start_fifo(request.id));
        CreatedContainer created = create_container(options, gate.get());
        recorded.channel = std::move(created.channel);
        record.pid = created.init_pid;
        // Init waits at the gate, so it is there to be looked at; recorded at once, so
        // that a failure from here on finds it alive and kills it (PendingContainer).
        record.start_time = process_start_time(record.pid).value_or(0);
        record.cgroups = created.cgroups;
        if (console) {
            send_console(console, created.terminal);
        } else {
            recorded.terminal = std::move(created.terminal);
        }
    }
    if (options.seccomp) {
        store.save_seccomp(request.id, *options.seccomp);
    }
    run_create_hooks(spec.hooks, record);
    store.save(record);
    if (!request.pid_file.empty()) {
        write_pid_file(request.pid_file, record.pid);
    }
    pending.commit();
    recorded.pid = record.pid;
    return recorded;
}

}  // namespace

void create(const StateStore& store, const CreateRequest& request) {
    create_recorded(store, request, false).send_recorded();
}

int run(const StateStore& store, const CreateRequest& request, bool detach) {
    // Blocked before init exists, as supervise() reads them from a signalfd.
    const BlockedSignals blocked;
    Recorded recorded = create_recorded(store, request, !detach);
    recorded.send_recorded();
    ChildProcess init(recorded.pid);
    try {
        start(store, request.id);
    } catch (const Error&) {
        remove(store, request.id, DeleteMode::force);
        throw;
    }
    if (detach) {
        init.release();  // it outlives berth, as after create and start
        return 0;
    }
    std::optional<RawTerminal> raw_terminal;
    if (recorded.terminal && ::isatty(0)) {
        raw_terminal.emplace(0, RawTerminal::Output::raw);
    }
    const int status = supervise(init, recorded.terminal.get(), true, nullptr, {});
    raw_terminal.reset();
    remove(store, request.id, DeleteMode::force);
    return status;
}

void start(const StateStore& store, const std::string& id) {
    check_container_id(id);
    const ContainerRecord record = store.load(id);
    const Status status = status_of(store, record);
    if (status != Status::created) {
        throw Error(fmt::format("container {} is {}: only a created container can be started",
                                quote(id), name_of(status)));
    }
    const Hooks hooks = bundle_hooks(record);
    try {
        // A failing hook leaves a container that will never run its command: killed, as
        // runc does (delete removes it).
        const auto killing = [&](const auto& step) {
            try {
                step();
            } catch (const Error&) {
                ::kill(record.pid, SIGKILL);
                throw;
            }
        };
        if (!hooks.start_container.empty()) {
            killing([&] {
                run_hooks(hooks.start_container, "startContainer",
                          state_json(record, Status::created), HookPlace::container, record.pid);
            });
        }
        open_start_gate(store.start_fifo(id), [&] { return init_alive(record); });
        if (!hooks.poststart.empty()) {
            killing([&] {
                run_hooks(hooks.poststart, "poststart", state_json(record, Status::running),
                          HookPlace::runtime, record.pid);
            });
        }
    } catch (const Error& e) {
        throw e.with_context(fmt::format("cannot start container {}", quote(id)));
    }
}

std::string state(const StateStore& store, const std::string& id) {
    check_container_id(id);
    const ContainerRecord record = store.load(id);
    return state_json(record, status_of(store, record));
}

void kill(const StateStore& store, const std::string& id, int signal) {
    check_container_id(id);
    const ContainerRecord record = store.load(id);
    if (status_of(store, record) == Status::stopped) {
        throw Error(fmt::format("container {} is not running (it has stopped)", quote(id)));
    }
    if (::kill(record.pid, signal) != 0) {
        throw_errno(fmt::format("cannot signal container {} (init, pid {})", quote(id), record.pid),
                    errno);
    }
}

void remove(const StateStore& store, const std::string& id, DeleteMode mode) {
    check_container_id(id);
    if (!store.exists(id)) {
        const bool half_made = std::filesystem::is_directory(store.directory(id));
        if (half_made && store.creator_alive(id)) {
            throw Error(fmt::format("container {} is being created (its berth create still runs)",
                                    quote(id)));
        }
        if (!half_made && mode != DeleteMode::force) {
            store.load(id);  // throws "does not exist"
        }
        // A create that died before it recorded the container: init has exited (it
        // waits at the gate only once recorded), its cgroups are where berth makes them.
        ContainerRecord leftover;
        leftover.id = id;
        leftover.cgroups = ContainerCgroup::existing(id);
        try {
            remove_cgroups(leftover);
        } catch (const Error& e) {
            throw e.with_context(fmt::format("cannot delete container {}", quote(id)));
        }
        store.remove(id);
        return;
    }
    const ContainerRecord record = store.load(id);
    const Status status = status_of(store, record);
    if (mode != DeleteMode::force && (status == Status::running || status == Status::paused)) {
        throw Error(
            fmt::format("container {} is {}; stop it first (berth kill) or use delete --force",
                        quote(id), name_of(status)));
    }
    const Hooks hooks = bundle_hooks(record);
    try {
        destroy(store, record);
    } catch (const Error& e) {
        throw e.with_context(fmt::format("cannot delete container {}", quote(id)));
    }
    // The spec: a poststop hook that fails is a warning, and delete goes on.
    run_hooks(hooks.poststop, "poststop", state_json(record, Status::stopped), HookPlace::runtime,
              record.pid, HookFailure::warn);
}

void pause(const StateStore& store, const std::string& id) {
    check_container_id(id);
    const ContainerRecord record = store.load(id);
    const Status status = status_of(store, record);
    if (status != Status::running && status != Status::created) {
        throw Error(
            fmt::format("container {} is {}: only a running or created container can be "
                        "paused",
                        quote(id), name_of(status)));
    }
    const std::string freezer = freezer_directory(record.cgroups);
    if (freezer.empty()) {
        throw Error(fmt::format(
            "container {} has no freezer cgroup (it was created rootless): it cannot be paused",
            quote(id)));
    }
    try {
        set_frozen(freezer, true);
    } catch (const Error& e) {
        throw e.with_context(fmt::format("cannot pause container {}", quote(id)));
    }
}

void resume(const StateStore& store, const std::string& id) {
    check_container_id(id);
    const ContainerRecord record = store.load(id);
    const Status status = status_of(store, record);
    if (status != Status::paused) {
        throw Error(fmt::format("container {} is {}: only a paused container can be resumed",
                                quote(id), name_of(status)));
    }
    try {
        set_frozen(freezer_directory(record.cgroups), false);
    } catch (const Error& e) {
        throw e.with_context(fmt::format("cannot resume container {}", quote(id)));
    }
}

void update(const StateStore& store, const std::string& id, const Resources& resources) {
    check_container_id(id);
    const ContainerRecord record = store.load(id);
    if (status_of(store, record) == Status::stopped) {
        throw Error(fmt::format("cannot update container {}: it has stopped", quote(id)));
    }
    try {
        update_cgroups(record.cgroups, resources);
    } catch (const Error& e) {
        throw e.with_context(fmt::format("cannot update container {}", quote(id)));
    }
}

std::vector<pid_t> processes(const StateStore& store, const std::string& id) {
    check_container_id(id);
    return container_pids(store.load(id));
}

std::vector<ListedContainer> list(const StateStore& store) {
    std::vector<ListedContainer> listed;
    for (const auto& id : store.ids()) {
        if (!store.exists(id)) {
            continue;  // being created, or a create that died (delete cleans it)
        }
        ListedContainer entry;
        entry.record = store.load(id);
        entry.status = status_of(store, entry.record);
        struct stat info {};
        ::stat(store.directory(id).c_str(), &info);
        const passwd* user = ::getpwuid(info.st_uid);
        entry.owner = user != nullptr ? user->pw_name : std::to_string(info.st_uid);
        listed.push_back(std::move(entry));
    }
    return listed;
}

int parse_signal(std::string_view text) {
    if (!text.empty() && std::isdigit(static_cast<unsigned char>(text.front()))) {
        int number = 0;
        if (parse_whole_number(text, number) && number > 0 && number < NSIG) {
            return number;
        }
    } else {
        std::string name(text);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (name.starts_with("SIG")) {
            name.erase(0, 3);
        }
        for (int signal = 1; signal < NSIG; ++signal) {
            const char* abbreviation = ::sigabbrev_np(signal);
            if (abbreviation != nullptr && name == abbreviation) {
                return signal;
            }
        }
    }
    throw bad_input(fmt::format("signal {} is not a signal name (TERM, SIGKILL) or number (1-{})",
                                quote(text), NSIG - 1));
}

}  // namespace berth::container::oci
