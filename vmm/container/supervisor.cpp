#include "vmm/container/supervisor.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/phase_clock.hpp"
#include "vmm/common/thread.hpp"
#include "vmm/container/pseudo_terminal.hpp"
#include "vmm/container/supervised_signals.hpp"
#include "vmm/container/user_namespace.hpp"
#include "vmm/net/network_namespace.hpp"

namespace berth::container {

namespace {

// Sets init up from outside. Init waits for berth only at its messages, so a message
// that finds init gone (killed) just stops the telling: init's report, or its status,
// says what there is. False then.
bool set_up(ChildProcess& init, const InitChannel& channel, const HostSetup& setup,
            HostResources& held) {
    bool init_listening = true;
    const auto tell_init = [&](InitMessage kind, int value = 0, std::span<const int> fds = {}) {
        if (init_listening) {
            init_listening = channel.send(kind, value, {}, fds);
        }
    };
    if (setup.map_user) {
        if (setup.uid_map.empty()) {
            map_caller_to_root(init.pid());
        } else {
            write_id_maps(init.pid(), setup.uid_map, setup.gid_map);
        }
        tell_init(InitMessage::user_namespace_mapped);
    }
    // While init builds the rootfs: its network namespace, its cgroups, its veth. The
    // namespace goes to init as soon as it exists: init needs it first (for /sys,
    // before the command). The cgroups are made meanwhile on a thread of their own (the
    // network namespace takes ~0.6 ms, the cgroups ~0.3 ms; both are mostly kernel
    // work, and the thread is made after clone3, so init never inherits a lock it holds).
    // Init moves itself in, through the doors that go with setup_done.
    CgroupDoors doors;
    const auto make_cgroups = [&] {
        held.cgroup = ContainerCgroup::plan(setup.cgroup_name, setup.limits);
        held.cgroup.create();
        doors = held.cgroup.open_doors();
        phase_mark("cgroup");
    };
    std::exception_ptr cgroup_error;
    Thread cgroup_maker;
    if (setup.limits.any() && setup.make_network_namespace) {
        cgroup_maker = Thread([&] {
            try {
                make_cgroups();
            } catch (...) {
                cgroup_error = std::current_exception();
            }
        });
    }
    UniqueFd network_namespace;
    if (setup.make_network_namespace) {
        network_namespace = setup.join_network_namespace.empty()
                                ? net::make_network_namespace()
                                : net::open_network_namespace(setup.join_network_namespace);
        phase_mark("netns");
        const int fd = network_namespace.get();
        tell_init(InitMessage::network_namespace, 0, std::span(&fd, 1));
    }
    if (cgroup_maker.joinable()) {
        cgroup_maker.join();
        if (cgroup_error) {
            std::rethrow_exception(cgroup_error);
        }
    } else if (setup.limits.any()) {
        make_cgroups();
    }
    if (setup.attach_bridge) {
        try {
            held.port = net::BridgePort::attach(init.pid(), network_namespace.get());
        } catch (const Error& e) {
            throw e.with_context("--net bridge");
        }
    }
    if (!setup.setup_done_sent) {
        std::vector<int> door_fds;
        for (const auto* side : {&doors.entries, &doors.exits}) {
            for (const UniqueFd& door : *side) {
                door_fds.push_back(door.get());
            }
        }
        tell_init(InitMessage::setup_done, static_cast<int>(doors.entries.size()), door_fds);
    }
    return init_listening;
}

// Until the command has exec'd: the terminal's master (-t), then command_started, or
// start_failed with init's error, thrown here. The end instead means init ended
// without a word (killed): its status says what happened. False then.
bool await_start(ChildProcess& init, const InitChannel& channel, HostResources& held) {
    while (std::optional<InitNote> note = channel.receive()) {
        switch (note->kind) {
            case InitMessage::terminal:
                held.terminal = note->take_fd();
                if (held.terminal) {
                    copy_window_size(0, held.terminal.get());
                }
                break;
            case InitMessage::command_started:
            case InitMessage::awaiting_start:  // OCI create: started later, by berth start
                return true;
            case InitMessage::start_failed:
                init.wait();
                throw failure_of(*note);
            default:
                throw Error(fmt::format("the container's init sent {} before the command started",
                                        name_of(note->kind)));
        }
    }
    return false;
}

// Copies what is available from `from` to `to`; false at end of input.
bool relay(int from, int to) {
    char buffer[4096];
    const ssize_t length = ::read(from, buffer, sizeof buffer);
    if (length <= 0) {
        return length < 0 && (errno == EAGAIN || errno == EINTR);
    }
    for (ssize_t done = 0; done < length;) {
        const ssize_t written = ::write(to, buffer + done, static_cast<std::size_t>(length - done));
        if (written <= 0) {
            if (written < 0 && errno == EINTR) {
                continue;
            }
            return false;
        }
        done += written;
    }
    return true;
}

}  // namespace

pid_t clone_container(std::uint64_t flags) {
    clone_args args{};
    args.flags = flags;
    args.exit_signal = SIGCHLD;
    const auto pid = static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
    if (pid < 0) {
        throw_errno("cannot create the container's namespaces (clone3)", errno);
    }
    return pid;
}

void set_up_and_start(ChildProcess& init, const InitChannel& channel, const HostSetup& setup,
                      HostResources& held) {
    bool init_listening = true;
    try {
        init_listening = set_up(init, channel, setup, held);
    } catch (const Error&) {
        // Finishing lets an init that still waits for us exit; if it failed too, its
        // error names the cause and wins.
        channel.finish_sending();
        await_start(init, channel, held);  // throws init's error, if it sent one
        throw;
    }
    if (!setup.keep_sending) {
        channel.finish_sending();
    }
    if (!await_start(init, channel, held) && !init_listening) {
        throw Error("the container's init exited before it could start the command");
    }
}

int supervise(ChildProcess& init, int master, bool relay_stdin, const InitChannel* exit_notices,
              const std::function<void(int)>& command_exited) {
    const sigset_t set = supervised_signals();
    UniqueFd signals(::signalfd(-1, &set, SFD_CLOEXEC));
    if (!signals) {
        throw_errno("cannot create a signalfd", errno);
    }
    bool stdin_open = master >= 0 && relay_stdin;
    bool master_open = master >= 0;
    int exit_notice = exit_notices != nullptr ? exit_notices->fd() : -1;
    // A SIGCHLD may have come before the signalfd existed.
    if (auto status = init.poll()) {
        return *status;
    }
    for (;;) {
        pollfd fds[4] = {{signals.get(), POLLIN, 0},
                         {master_open ? master : -1, POLLIN, 0},
                         {stdin_open ? 0 : -1, POLLIN, 0},
                         {exit_notice, POLLIN, 0}};
        if (::poll(fds, 4, -1) < 0) {
            continue;
        }
        if (fds[3].revents & (POLLIN | POLLHUP | POLLERR)) {
            std::optional<InitNote> note;
            try {
                note = exit_notices->receive();
            } catch (const Error&) {
                // As without a notice: the cgroups go once init has been reaped.
            }
            if (note && note->kind == InitMessage::command_exited) {
                command_exited(note->value);
            }
            exit_notice = -1;  // once: a notice, or init gone without one
        }
        if (fds[0].revents & POLLIN) {
            signalfd_siginfo info{};
            if (::read(signals.get(), &info, sizeof info) == sizeof info) {
                const int signal = static_cast<int>(info.ssi_signo);
                if (signal == SIGCHLD) {
                    if (auto status = init.poll()) {
                        phase_mark("init_reaped");
                        if (master_open) {
                            ::fcntl(master, F_SETFL, O_NONBLOCK);
                            while (relay(master, 1)) {
                            }
                        }
                        return *status;
                    }
                } else if (signal == SIGWINCH) {
                    if (master >= 0) {
                        copy_window_size(0, master);
                    }
                } else {
                    ::kill(init.pid(), signal);
                }
            }
        }
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            master_open = relay(master, 1);
        }
        if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) {
            stdin_open = relay(0, master);
        }
    }
}

}  // namespace berth::container
