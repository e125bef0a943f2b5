#include "vmm/container/oci_runtime.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <span>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/parse_number.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unix_socket.hpp"
#include "vmm/container/container_runtime.hpp"
#include "vmm/container/oci_run_options.hpp"
#include "vmm/container/oci_spec.hpp"
#include "vmm/container/start_gate.hpp"

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
            ::usleep(2000);
        }
    }
}

// Everything of the container goes: its processes, its cgroups, its state.
void destroy(const StateStore& store, const ContainerRecord& record) {
    if (init_alive(record)) {
        ::kill(record.pid, SIGKILL);
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

// The caller's console socket, connected before anything is made, so that a wrong path
// is bad input that leaves nothing behind.
UniqueFd connect_console_socket(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) {
        throw bad_input(
            fmt::format("--console-socket {}: the path is longer than a unix socket's "
                        "({} bytes at most)",
                        quote(path), sizeof address.sun_path - 1));
    }
    path.copy(address.sun_path, path.size());
    UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!socket) {
        throw_errno("cannot make a unix socket", errno);
    }
    if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        throw bad_input(
            errno_message(fmt::format("--console-socket {}: cannot connect", quote(path)), errno));
    }
    return socket;
}

// The master goes to the caller as runc sends it: one message with the descriptor.
void send_console(const UniqueFd& socket, const UniqueFd& master) {
    constexpr std::string_view payload = "berth-console";
    const int fd = master.get();
    if (!send_message(socket.get(), std::as_bytes(std::span(payload.data(), payload.size())),
                      std::span(&fd, 1))) {
        throw Error("cannot pass the terminal: the console socket's other end has closed");
    }
}

void write_pid_file(const std::string& path, pid_t pid) {
    OutputFile file = OutputFile::create(path, "pid file");
    file.write(std::to_string(pid));
    file.commit();
}

}  // namespace

void create(const StateStore& store, const CreateRequest& request) {
    check_container_id(request.id);
    // Everything that can be wrong with the input is found before anything is made.
    const std::string bundle = bundle_directory(request.bundle);
    const Spec spec = load_spec(bundle);
    RunOptions options;
    try {
        options = run_options_from(spec, bundle, request.id);
    } catch (const Error& e) {
        throw e.with_context("config.json");
    }

    if (options.tty != !request.console_socket.empty()) {
        throw bad_input(options.tty ? "process.terminal is true: give --console-socket, where "
                                      "the pseudo-terminal's master goes"
                                    : "--console-socket needs process.terminal true in "
                                      "config.json");
    }
    UniqueFd console;
    if (options.tty) {
        console = connect_console_socket(request.console_socket);
    }

    PendingContainer pending(store, request.id);
    ContainerRecord& record = pending.record();
    record.bundle = bundle;
    record.annotations = spec.annotations;
    record.created = rfc3339_now();
    {
        const UniqueFd gate = make_start_gate(store.start_fifo(request.id));
        const CreatedContainer created = create_container(options, gate.get());
        record.pid = created.init_pid;
        // Init waits at the gate, so it is there to be looked at; recorded at once, so
        // that a failure from here on finds it alive and kills it (PendingContainer).
        record.start_time = process_start_time(record.pid).value_or(0);
        record.cgroups = created.cgroups;
        if (console) {
            send_console(console, created.terminal);
        }
    }
    store.save(record);
    if (!request.pid_file.empty()) {
        write_pid_file(request.pid_file, record.pid);
    }
    pending.commit();
}

void start(const StateStore& store, const std::string& id) {
    check_container_id(id);
    const ContainerRecord record = store.load(id);
    const Status status = status_of(store, record);
    if (status != Status::created) {
        throw Error(fmt::format("container {} is {}: only a created container can be started",
                                quote(id), name_of(status)));
    }
    try {
        open_start_gate(store.start_fifo(id), [&] { return init_alive(record); });
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
        if (mode == DeleteMode::force) {
            store.remove(id);  // a create that died half-way may have left the directory
            return;
        }
        store.load(id);  // throws "does not exist"
    }
    const ContainerRecord record = store.load(id);
    if (mode != DeleteMode::force && status_of(store, record) == Status::running) {
        throw Error(
            fmt::format("container {} is running; stop it first (berth kill) or use delete --force",
                        quote(id)));
    }
    try {
        destroy(store, record);
    } catch (const Error& e) {
        throw e.with_context(fmt::format("cannot delete container {}", quote(id)));
    }
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
