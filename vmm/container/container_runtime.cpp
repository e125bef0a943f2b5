#include "vmm/container/container_runtime.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "vmm/common/phase_clock.hpp"
#include "vmm/common/process.hpp"
#include "vmm/common/raw_terminal.hpp"
#include "vmm/common/size.hpp"
#include "vmm/common/thread.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/container_cgroup.hpp"
#include "vmm/container/image_rootfs.hpp"
#include "vmm/container/pseudo_terminal.hpp"
#include "vmm/container/rootfs_setup.hpp"
#include "vmm/container/security.hpp"
#include "vmm/net/bridge_network.hpp"
#include "vmm/net/network_namespace.hpp"

namespace berth::container {

namespace {

// Signals berth passes on to the command (through init). SIGCHLD tells us init ended.
constexpr int forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

sigset_t supervised_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (const int signal : forwarded_signals) {
        sigaddset(&set, signal);
    }
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGWINCH);
    return set;
}

// Blocks the supervised signals for the lifetime of the object (they are read from a
// signalfd instead); init and the command inherit the mask, the command clears it.
class BlockedSignals {
public:
    BlockedSignals() {
        const sigset_t set = supervised_signals();
        ::sigprocmask(SIG_BLOCK, &set, &saved_);
    }
    ~BlockedSignals() { ::sigprocmask(SIG_SETMASK, &saved_, nullptr); }
    BlockedSignals(const BlockedSignals&) = delete;
    BlockedSignals& operator=(const BlockedSignals&) = delete;

private:
    sigset_t saved_{};
};

struct Pipe {
    UniqueFd read;
    UniqueFd write;
    static Pipe open() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) {
            throw_errno("cannot create a pipe", errno);
        }
        return {UniqueFd(fds[0]), UniqueFd(fds[1])};
    }
};

// Everything the container's processes need, prepared before clone so that the child
// only acts.
struct ChildPlan {
    const RunOptions* options;
    std::string command_path;
    std::vector<std::string> env;
    std::optional<net::Ipv4Cidr> address;
    UserNamespace user_namespace;
    RootfsPlan rootfs;
    std::string image_loop;  // --image: the loop device init mounts (rootfs is then found there)
    // Init waits three times, so that berth's part of the set-up (user namespace maps,
    // network namespace, cgroups, veth) overlaps init's rootfs:
    // 1. a go byte here, once its user namespace is mapped (so it may build the rootfs);
    // 2. as root (not --net host), berth makes the network namespace and sends it on
    //    `netns_socket` at once; init enters it after the rootfs (sysfs must be mounted
    //    there) while berth makes the cgroups;
    // 3. the seccomp program here, once berth has put init in its cgroups and plugged in
    //    the veth: once it arrives, init may start the command.
    // What berth knows before clone3 (1 as root; 3 when there are neither cgroups nor a
    // veth to wait for) is in the pipe before init runs, so init waits only where it must.
    int go_read = -1;
    int report_write = -1;  // a failure before exec is written here: status byte, message
    int tty_socket = -1;    // with -t: init sends the pty master to berth here
    int netns_socket = -1;  // -1 when clone3 made the network namespace (rootless) or --net host
    int go_write = -1;      // berth's end of the go pipe: init closes its copy, or never sees EOF
    // With cgroups: init writes the command's status here (an int) as it exits, so that
    // berth can remove the cgroups while the kernel still tears down the namespaces.
    int exit_notice = -1;
};

[[noreturn]] void report_and_exit(int fd, ExitStatus status, const std::string& message) {
    std::string packet(1, static_cast<char>(status));
    packet += message;
    [[maybe_unused]] const auto written = ::write(fd, packet.data(), packet.size());
    ::_exit(static_cast<int>(status));
}

// Init failing before berth has set it up (cgroups, veth) first lets berth finish: it
// reads the start pipe to its end (berth closes it once done) and only then exits. Were
// init gone earlier, its namespaces would be too, berth's setup would fail (ESRCH on the
// veth, say) and that runtime error would hide init's own report.
[[noreturn]] void report_after_setup_and_exit(int go_read, int report_write, ExitStatus status,
                                              const std::string& message) {
    if (go_read >= 0) {
        char rest[256];
        ssize_t length;
        while ((length = ::read(go_read, rest, sizeof rest)) > 0 ||
               (length < 0 && errno == EINTR)) {
        }
    }
    report_and_exit(report_write, status, message);
}

ExitStatus child_status(const Error& error) {
    return error.status() == ExitStatus::bad_input ? ExitStatus::bad_input : runtime_failure;
}

// Sends one byte carrying `fd` (SCM_RIGHTS) over the unix socket `socket`; sendmsg's
// result. No SIGPIPE when the peer is gone: EPIPE instead.
ssize_t send_with_fd(int socket, int fd) {
    char byte = 0;
    iovec data{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(header), &fd, sizeof(int));
    ssize_t sent;
    while ((sent = ::sendmsg(socket, &message, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
    }
    return sent;
}

void send_fd(int socket, int fd) {
    if (send_with_fd(socket, fd) != 1) {
        throw_errno("cannot pass the pseudo-terminal to berth", errno);
    }
}

// Receives one fd; an invalid UniqueFd when the sender went away first.
UniqueFd receive_fd(int socket) {
    char byte = 0;
    iovec data{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    if (::recvmsg(socket, &message, MSG_CMSG_CLOEXEC) != 1) {
        return {};
    }
    const cmsghdr* header = CMSG_FIRSTHDR(&message);
    if (header == nullptr || header->cmsg_type != SCM_RIGHTS) {
        return {};
    }
    int fd = -1;
    std::memcpy(&fd, CMSG_DATA(header), sizeof(int));
    return UniqueFd(fd);
}

// A connected pair of unix sockets (close-on-exec) for passing descriptors.
std::pair<UniqueFd, UniqueFd> socket_pair(const char* what) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        throw_errno(fmt::format("cannot create a socket pair for {}", what), errno);
    }
    return {UniqueFd(pair[0]), UniqueFd(pair[1])};
}

// Sends `fd` to init; false when init is gone (its report then says why).
bool send_fd_to_init(int socket, int fd) {
    const ssize_t sent = send_with_fd(socket, fd);
    if (sent < 0 && (errno == EPIPE || errno == ECONNRESET)) {
        return false;
    }
    if (sent != 1) {
        throw_errno("cannot pass the network namespace to the container's init", errno);
    }
    return true;
}

// In the command's process: the last steps, then exec.
[[noreturn]] void exec_command(const ChildPlan& plan, const std::string& command_path,
                               int tty_slave, const std::vector<sock_filter>& filter) {
    const RunOptions& options = *plan.options;
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::setsid();
    if (tty_slave >= 0) {
        if (::ioctl(tty_slave, TIOCSCTTY, 0) != 0) {
            throw_errno("cannot make the pseudo-terminal the controlling terminal", errno);
        }
        for (int fd = 0; fd < 3; ++fd) {
            ::dup2(tty_slave, fd);
        }
        ::close(tty_slave);
    } else if (!options.keep_stdin) {
        UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (!null || ::dup2(null.get(), 0) != 0) {
            throw_errno("cannot open /dev/null for stdin", errno);
        }
    }
    if (::chdir(options.workdir.c_str()) != 0) {
        throw bad_input(fmt::format("--workdir '{}' cannot be entered in the rootfs: {}",
                                    options.workdir, std::strerror(errno)));
    }
    // Only stdin, stdout and stderr go to the command, whatever berth's caller left open.
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    drop_capabilities();
    switch_user(options.user, plan.user_namespace);
    set_no_new_privileges();
    ::umask(022);
    std::vector<char*> argv;
    for (const auto& arg : options.command) {
        argv.push_back(const_cast<char*>(arg.c_str()));
    }
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& entry : plan.env) {
        envp.push_back(const_cast<char*>(entry.c_str()));
    }
    envp.push_back(nullptr);
    // Last: after this only the system calls the command itself makes are filtered.
    load_seccomp_program(filter);
    phase_mark("exec");  // `berth bench startup` (BERTH_PHASES only)
    ::execve(command_path.c_str(), argv.data(), envp.data());
    throw_errno(fmt::format("cannot execute {}", command_path), errno);
}

// What the command's process needs from init.
struct CommandStart {
    const ChildPlan* plan;
    const std::string* command_path;
    int tty_slave;
    const std::vector<sock_filter>* filter;
};

int run_command(void* argument) {
    const auto& start = *static_cast<const CommandStart*>(argument);
    try {
        exec_command(*start.plan, *start.command_path, start.tty_slave, *start.filter);
    } catch (const Error& e) {
        report_and_exit(start.plan->report_write, child_status(e), e.what());
    } catch (const std::exception& e) {
        report_and_exit(start.plan->report_write, runtime_failure, e.what());
    }
}

// Starts the command's process; its pid (2). Like vfork: the process shares init's
// memory and init sleeps until it has exec'd or exited, so no page tables are copied
// for it nor torn down again at exec (a fork of berth cost ~0.2 ms here). It runs on a
// stack of its own, has its own descriptors, directories, credentials and seccomp
// filter, and init is single-threaded, so no lock can be held by anyone else meanwhile;
// what it allocates on the shared heap before exec is only lost to init.
pid_t start_command(CommandStart& start) {
    // Below malloc's mmap threshold (128 KiB), so the stack comes from heap pages berth
    // has touched already instead of a fresh mapping that faults in page by page.
    constexpr std::size_t stack_size = 64 * 1024;
    const std::unique_ptr<char[]> stack(new char[stack_size]);
    const pid_t pid =
        ::clone(run_command, stack.get() + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
    if (pid < 0) {
        throw_errno("cannot start the command's process", errno);
    }
    return pid;
}

// The container's PID 1.
[[noreturn]] void container_init(const ChildPlan& plan) {
    const auto read_exactly = [&](void* data, std::size_t size) {
        for (std::size_t done = 0; done < size;) {
            const ssize_t length =
                ::read(plan.go_read, static_cast<char*>(data) + done, size - done);
            if (length <= 0) {
                ::_exit(static_cast<int>(runtime_failure));  // berth gave up; it reports why
            }
            done += static_cast<std::size_t>(length);
        }
    };
    ::close(plan.go_write);
    char go = 0;
    read_exactly(&go, 1);
    // Not dumpable: the container's processes cannot ptrace us or open /proc/1/exe (the
    // berth binary on the host). Set after "go": rootless berth needed /proc/PID writable.
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    pid_t command = -1;
    int go_read = plan.go_read;  // -1 once berth has finished setting us up
    std::string command_path = plan.command_path;
    std::optional<PtyPair> tty;
    std::vector<sock_filter> filter;
    try {
        const std::string& hostname = plan.options->hostname;
        if (::sethostname(hostname.data(), hostname.size()) != 0) {
            throw_errno("cannot set the hostname", errno);
        }
        if (plan.image_loop.empty()) {
            setup_rootfs(plan.rootfs);
        } else {
            RootfsPlan image_plan = plan.rootfs;
            image_plan.rootfs = mount_image_rootfs(plan.image_loop);
            // Only now can the command be looked for; the image's own symlinks resolve inside it.
            try {
                command_path =
                    resolve_command(image_plan.rootfs, plan.options->command.front(), plan.env);
            } catch (const Error&) {
                throw bad_input(fmt::format("command '{}' is not found in image '{}'",
                                            plan.options->command.front(), plan.options->image));
            }
            setup_rootfs(image_plan);
        }
        if (plan.netns_socket >= 0) {
            const UniqueFd netns = receive_fd(plan.netns_socket);
            if (!netns) {
                ::_exit(static_cast<int>(runtime_failure));  // berth gave up; it reports why
            }
            if (::setns(netns.get(), CLONE_NEWNET) != 0) {
                throw_errno("cannot enter the container's network namespace", errno);
            }
            ::close(plan.netns_socket);
        }
        finish_rootfs(plan.rootfs);
        phase_mark("rootfs");  // pivoted, /proc, /dev and /sys in place
        // The pty comes from the container's own devpts, so that ttyname() works inside.
        if (plan.tty_socket >= 0) {
            tty = PtyPair::open();
            send_fd(plan.tty_socket, tty->master.get());
            tty->master.reset();
            ::close(plan.tty_socket);
        }
        // The last go is the compiled seccomp filter: length, then instructions.
        std::uint32_t length = 0;
        read_exactly(&length, sizeof length);
        filter.resize(length);
        read_exactly(filter.data(), length * sizeof(sock_filter));
        ::close(go_read);
        go_read = -1;
        // Now that berth has put us in our cgroups, make them our cgroup root.
        if (::unshare(CLONE_NEWCGROUP) != 0) {
            throw_errno("cannot create a cgroup namespace", errno);
        }
        // As root the thread that made the namespace brought lo up already.
        if (plan.options->net != NetMode::host && plan.netns_socket < 0) {
            net::set_loopback_up();
        }
        if (plan.options->net == NetMode::bridge && plan.address) {
            net::configure_bridge_interface(*plan.address);
        }
        CommandStart start{&plan, &command_path, tty ? tty->slave.get() : -1, &filter};
        command = start_command(start);
    } catch (const Error& e) {
        report_after_setup_and_exit(go_read, plan.report_write, child_status(e), e.what());
    } catch (const std::exception& e) {
        report_after_setup_and_exit(go_read, plan.report_write, runtime_failure, e.what());
    }
    ::close(plan.report_write);
    tty.reset();
    // Reap everything; pass signals on; leave with the command's status.
    const sigset_t set = supervised_signals();
    for (;;) {
        siginfo_t info{};
        if (::sigwaitinfo(&set, &info) < 0) {
            continue;
        }
        if (info.si_signo == SIGCHLD) {
            int status = 0;
            pid_t pid;
            while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
                if (pid == command) {
                    const int code = encode_wait_status(status);
                    if (plan.exit_notice >= 0) {
                        [[maybe_unused]] const auto written =
                            ::write(plan.exit_notice, &code, sizeof code);
                    }
                    ::_exit(code);
                }
            }
        } else if (info.si_signo != SIGWINCH) {
            ::kill(command, info.si_signo);
        }
    }
}

// Writes all of `data` to the pipe `fd` without dying of SIGPIPE when the reader is
// gone (berth must still collect the reader's report). Returns false on EPIPE; throws
// on any other error. The signal is blocked in this thread only and a pending one is
// consumed, so the disposition that the container's command inherits is untouched.
bool write_without_sigpipe(int fd, const void* data, std::size_t size) {
    sigset_t pipe_only;
    sigset_t saved;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &saved);
    ssize_t written;
    do {
        written = ::write(fd, data, size);
    } while (written < 0 && errno == EINTR);
    const int err = errno;
    if (written < 0 && err == EPIPE) {
        const timespec no_wait{};
        while (sigtimedwait(&pipe_only, nullptr, &no_wait) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &saved, nullptr);
    if (written < 0 && err == EPIPE) {
        return false;
    }
    if (written != static_cast<ssize_t>(size)) {
        throw_errno("cannot talk to the container's init", err);
    }
    return true;
}

void write_proc_file(pid_t pid, const char* name, const std::string& text) {
    const std::string path = fmt::format("/proc/{}/{}", pid, name);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        throw_errno(fmt::format("cannot write {}", path), errno);
    }
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

// Waits for init while forwarding signals and, with -t, relaying the terminal.
// `exit_notice` (or -1): where init writes the command's status before it exits;
// `command_exited` runs with it then, while init is still on its way out.
int supervise(ChildProcess& init, const RunOptions& options, int master, int exit_notice,
              const std::function<void(int)>& command_exited) {
    const sigset_t set = supervised_signals();
    UniqueFd signals(::signalfd(-1, &set, SFD_CLOEXEC));
    if (!signals) {
        throw_errno("cannot create a signalfd", errno);
    }
    bool stdin_open = master >= 0 && options.keep_stdin;
    bool master_open = master >= 0;
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
            int code = 0;
            if (::read(exit_notice, &code, sizeof code) == sizeof code) {
                command_exited(code);
            }
            exit_notice = -1;  // once: a notice, or init gone without one
        }
        if (fds[0].revents & POLLIN) {
            signalfd_siginfo info{};
            if (::read(signals.get(), &info, sizeof info) == sizeof info) {
                const int signal = static_cast<int>(info.ssi_signo);
                if (signal == SIGCHLD) {
                    if (auto status = init.poll()) {
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

// What init reads as the seccomp program: its length in instructions, then the program.
std::string seccomp_program_message() {
    const std::span<const sock_filter> filter = default_seccomp_program();
    std::string message(sizeof(std::uint32_t), '\0');
    const auto instructions = static_cast<std::uint32_t>(filter.size());
    std::memcpy(message.data(), &instructions, sizeof instructions);
    message.append(reinterpret_cast<const char*>(filter.data()),
                   filter.size() * sizeof(sock_filter));
    return message;
}

pid_t clone_container(std::uint64_t flags) {
    clone_args args{};
    args.flags = flags;
    args.exit_signal = SIGCHLD;
    return static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
}

}  // namespace

int run_container(const RunOptions& options) {
    // All checks that need no privilege come first.
    const auto env = container_environment(options);
    const bool rootless = ::geteuid() != 0;
    const bool from_image = !options.image.empty();
    if (rootless && from_image) {
        throw bad_input(
            "--image needs root (it mounts a loop device); unpack the image and use --rootfs");
    }
    // With --image the command is looked for once the image is mounted, inside init.
    const std::string command_path =
        from_image ? std::string() : resolve_command(options.rootfs, options.command.front(), env);
    if (rootless && options.net == NetMode::bridge) {
        throw bad_input(
            "--net bridge needs root (it creates host network links); use --net none or run as "
            "root");
    }
    if (rootless && (options.user.uid != 0 || options.user.gid != 0)) {
        throw bad_input(
            "--user other than 0 needs root: rootless, only your own user is mapped (to 0)");
    }
    std::string rootfs;
    std::optional<LoopDevice> loop;
    if (from_image) {
        loop = LoopDevice::attach(options.image);
    } else {
        std::error_code error;
        rootfs = std::filesystem::canonical(options.rootfs, error).string();
        if (error) {
            throw bad_input(fmt::format("--rootfs '{}': {}", options.rootfs, error.message()));
        }
    }

    const std::string name = options.name.empty() ? std::to_string(::getpid()) : options.name;
    // Resolved, checked and made while init builds its rootfs (finding the hierarchies
    // reads /proc/self/mountinfo, ~0.1 ms): a refusal (no such controller, name in use,
    // no permission) is still bad input, and init is killed before any command runs.
    const CgroupLimits limits{options.memory_bytes, options.pids, options.cpu_quota_us};
    ContainerCgroup cgroup;
    std::optional<net::IpLease> lease;
    if (options.net == NetMode::bridge) {
        lease = net::IpLease::acquire(options.ip);
    }
    std::optional<RawTerminal> raw_terminal;
    UniqueFd tty_socket;
    UniqueFd tty_socket_child;
    if (options.tty) {
        std::tie(tty_socket, tty_socket_child) = socket_pair("-t");
    }
    // As root berth makes the network namespace itself while init builds the rootfs (see
    // network_namespace.hpp); rootless, clone3 makes it in init's user namespace.
    const bool netns_by_berth = !rootless && options.net != NetMode::host;
    UniqueFd netns_socket;
    UniqueFd netns_socket_child;
    if (netns_by_berth) {
        std::tie(netns_socket, netns_socket_child) = socket_pair("the network namespace");
    }

    Pipe go = Pipe::open();
    Pipe report = Pipe::open();
    std::optional<Pipe> exit_notice;
    if (limits.any()) {
        exit_notice = Pipe::open();
    }
    ChildPlan plan{&options,
                   command_path,
                   env,
                   lease ? std::optional<net::Ipv4Cidr>(lease->cidr()) : std::nullopt,
                   rootless ? UserNamespace::private_ : UserNamespace::shared,
                   RootfsPlan{rootfs, options.root_mode,
                              rootless ? DeviceMode::bind_host : DeviceMode::create_nodes,
                              rootless && options.net == NetMode::host ? SysfsMode::bind_host
                              : netns_by_berth                         ? SysfsMode::after_netns
                                                                       : SysfsMode::fresh},
                   loop ? loop->path() : std::string(),
                   go.read.get(),
                   report.write.get(),
                   tty_socket_child.get(),
                   netns_socket_child.get(),
                   go.write.get()};
    plan.exit_notice = exit_notice ? exit_notice->write.get() : -1;

    // What init may have at once (see ChildPlan::go_read): far below the pipe's capacity,
    // so these writes never block, and berth holds the read end itself, so no EPIPE.
    const char go_byte = 1;
    const std::string seccomp_message = seccomp_program_message();
    const bool go_now = !rootless;
    // The seccomp program is init's last go: with cgroups to make or a veth to plug in
    // it waits for them; otherwise the network namespace is the last thing init needs.
    const bool seccomp_now = netns_by_berth && !limits.any() && options.net != NetMode::bridge;
    if (go_now) {
        write_without_sigpipe(go.write.get(), &go_byte, 1);
    }
    if (seccomp_now) {
        write_without_sigpipe(go.write.get(), seccomp_message.data(), seccomp_message.size());
    }

    std::uint64_t flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
    if (options.net != NetMode::host && !netns_by_berth) {
        flags |= CLONE_NEWNET;
    }
    if (rootless) {
        flags |= CLONE_NEWUSER;
    }
    BlockedSignals blocked;
    const pid_t pid = clone_container(flags);
    if (pid < 0) {
        throw_errno("cannot create the container's namespaces (clone3)", errno);
    }
    if (pid == 0) {
        container_init(plan);
    }
    ChildProcess init(pid);
    phase_mark("namespaces");
    go.read.reset();
    report.write.reset();
    if (exit_notice) {
        exit_notice->write.reset();
    }
    tty_socket_child.reset();
    netns_socket_child.reset();

    // Until exec, the report pipe is open; a failure arrives as status byte + message.
    // Empty once every writer (init, the command before exec) has closed it silently.
    const auto read_report = [&report]() {
        std::string message;
        char buffer[512];
        ssize_t length;
        while ((length = ::read(report.read.get(), buffer, sizeof buffer)) != 0) {
            if (length < 0) {
                if (errno == EINTR) {
                    continue;
                }
                break;
            }
            message.append(buffer, static_cast<std::size_t>(length));
        }
        return message;
    };
    const auto throw_init_error = [&init](const std::string& message) {
        init.wait();
        throw Error(message.substr(1),
                    static_cast<ExitStatus>(static_cast<unsigned char>(message[0])));
    };

    // Init waits for us to close the go pipe even when it fails, so these writes see EPIPE
    // only when init was killed: then init's report, read below, says what there is.
    bool init_listening = true;
    std::optional<net::BridgePort> port;
    UniqueFd master;
    try {
        if (rootless) {
            write_proc_file(pid, "setgroups", "deny");
            write_proc_file(pid, "uid_map", fmt::format("0 {} 1", ::geteuid()));
            write_proc_file(pid, "gid_map", fmt::format("0 {} 1", ::getegid()));
        }
        if (!go_now) {
            init_listening = write_without_sigpipe(go.write.get(), &go_byte, 1);
        }
        // While init builds the rootfs: its network namespace, its cgroups, its veth.
        // The namespace goes to init as soon as it exists: init needs it first (for
        // /sys, before the command). The cgroups are made meanwhile on a thread of
        // their own (the network namespace takes ~0.6 ms, the cgroups ~0.3 ms; both
        // are mostly kernel work, and the thread is made after clone3, so init never
        // inherits a lock it holds).
        const auto make_cgroups = [&] {
            cgroup = ContainerCgroup::plan(name, limits);
            cgroup.create();
            cgroup.add_process(pid);
            phase_mark("cgroup");
        };
        std::exception_ptr cgroup_error;
        Thread cgroup_maker;
        if (limits.any() && netns_by_berth) {
            cgroup_maker = Thread([&] {
                try {
                    make_cgroups();
                } catch (...) {
                    cgroup_error = std::current_exception();
                }
            });
        }
        UniqueFd netns;
        if (netns_by_berth) {
            netns = net::make_network_namespace();
            phase_mark("netns");
            if (init_listening) {
                init_listening = send_fd_to_init(netns_socket.get(), netns.get());
            }
        }
        if (cgroup_maker.joinable()) {
            cgroup_maker.join();
            if (cgroup_error) {
                std::rethrow_exception(cgroup_error);
            }
        } else if (limits.any()) {
            make_cgroups();
        }
        if (options.net == NetMode::bridge) {
            port = net::BridgePort::attach(pid, netns.get());
        }
        if (!seccomp_now && init_listening) {
            init_listening = write_without_sigpipe(go.write.get(), seccomp_message.data(),
                                                   seccomp_message.size());
        }
        netns_socket.reset();
        go.write.reset();
        if (tty_socket) {
            master = receive_fd(tty_socket.get());  // invalid when init failed first
            if (master) {
                copy_window_size(0, master.get());
            }
        }
    } catch (const Error&) {
        // Our setup failed. If init failed too, its report names the cause (our failure may
        // only be a consequence, e.g. ESRCH once init's namespaces are gone), so it wins.
        // Closing the go pipe and the namespace's socket lets an init that is still waiting
        // for us exit.
        netns_socket.reset();
        go.write.reset();
        if (const std::string message = read_report(); !message.empty()) {
            throw_init_error(message);
        }
        throw;
    }

    if (const std::string message = read_report(); !message.empty()) {
        throw_init_error(message);
    }
    if (!init_listening) {
        throw Error("the container's init exited before it could start the command");
    }

    // The command runs (the report pipe closed at its exec), so init is needed in the
    // cgroups no more: out of them, it does not keep them busy while it exits, and
    // they can go as soon as the command has ended.
    const bool init_released = exit_notice && cgroup.release_process(init.pid());
    // The OOM killer's SIGKILL either ends the command (128+9) or fails it through a
    // killed child; a command that succeeded was not stopped by it, so a clean exit
    // skips the read (it is on every run's way out).
    std::uint64_t oom_kills = 0;
    const auto command_exited = [&](int command_status) {
        if (command_status != 0) {
            oom_kills = cgroup.oom_kills();
        }
        cgroup.remove();  // waits out descendants that init's exit is killing
    };

    if (master) {
        raw_terminal.emplace(0, RawTerminal::Output::raw);
    }
    const int status = supervise(init, options, master.get(),
                                 init_released ? exit_notice->read.get() : -1, command_exited);
    raw_terminal.reset();
    if (!init_released && status != 0) {
        oom_kills = cgroup.oom_kills();
    }
    if (oom_kills > 0) {
        fmt::print(stderr, "berth: container was killed: out of memory (limit {})\n",
                   format_size(*options.memory_bytes));
    }
    return status;
}

}  // namespace berth::container
