#include "vmm/container/container_init.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#if defined(__SANITIZE_ADDRESS__)
#define BERTH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BERTH_ASAN 1
#endif
#endif
#ifdef BERTH_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#include "vmm/common/phase_clock.hpp"
#include "vmm/common/process.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/container_cgroup.hpp"
#include "vmm/container/container_runtime.hpp"
#include "vmm/container/image_rootfs.hpp"
#include "vmm/container/pseudo_terminal.hpp"
#include "vmm/container/start_gate.hpp"
#include "vmm/container/supervised_signals.hpp"
#include "vmm/net/bridge_network.hpp"

namespace berth::container {

namespace {

// Runs `step`; an Error from it gets the text `context()` makes in front (made only
// then: this is on every start's path).
template <typename Context, typename Step>
auto in_context(Context context, Step step) {
    try {
        return step();
    } catch (const Error& e) {
        throw e.with_context(context());
    }
}

// Waits for berth's `kind`. The end of the channel means berth gave up and reports why
// itself, so init ends quietly.
InitNote await(const InitChannel& berth, InitMessage kind) {
    std::optional<InitNote> note = berth.receive();
    if (!note) {
        ::_exit(static_cast<int>(runtime_failure));
    }
    if (note->kind != kind) {
        throw Error(fmt::format("berth sent {} while init waited for {}", name_of(note->kind),
                                name_of(kind)));
    }
    return std::move(*note);
}

// A failure before the command runs goes to berth as text. Failing before berth has set
// init up (cgroups, veth), init first lets berth finish: it reads the channel up to setup_done,
// berth's last word, or to its end (berth finishes sending when it gives up), and only
// then exits. Were init gone earlier, its
// namespaces would be too, berth's setup would fail (ESRCH on the veth, say) and that
// error would hide init's own.
// Past an OCI container's start gate nobody listens on the channel any more (create has
// returned): the line goes to the container's stderr, which its caller (conmon, the
// shim) logs, instead of nowhere.
[[noreturn]] void report_and_exit(const InitChannel& berth, bool setup_done, const Error& error,
                                  bool started = false) {
    try {
        if (!setup_done) {
            while (const auto note = berth.receive()) {
                if (note->kind == InitMessage::setup_done) {
                    break;
                }
            }
        }
        if (!berth.send_failure(error) && started) {
            fmt::print(stderr, "berth: {}\n",
                       one_line(fmt::format("cannot start container: {}", error.what())));
        }
    } catch (const Error& channel_error) {
        // berth sees the channel's end and init's status, and says nothing: the cause
        // goes to the stderr init shares with berth instead.
        fmt::print(stderr, "berth: {}\n",
                   one_line(fmt::format("cannot start container: {} ({})", error.what(),
                                        channel_error.what())));
    }
    ::_exit(static_cast<int>(error.status()));
}

// Files init makes (mount points, nodes) need ids the namespace maps, and a mapped
// root owns them. The groups are cleared where setgroups is allowed (not rootless).
void become_namespace_root(UserNamespace user_namespace) {
    if (user_namespace == UserNamespace::shared && ::setgroups(0, nullptr) != 0) {
        throw_errno("cannot clear the supplementary groups in the user namespace", errno);
    }
    if (::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0) {
        throw_errno("cannot become root of the container's user namespace", errno);
    }
}

void set_hostname(const std::string& hostname) {
    if (::sethostname(hostname.data(), hostname.size()) != 0) {
        throw_errno("cannot set the hostname", errno);
    }
}

// What an image the rootfs comes from is called ("image 'x.img'"); empty for a rootfs.
std::string image_name(const InitPlan& plan) {
    if (!plan.image_loop.empty()) {
        return fmt::format("image {}", quote(plan.options->image));
    }
    if (!plan.image_layers.empty()) {
        return fmt::format("image layout {}", quote(plan.options->oci_image));
    }
    return {};
}

// What a failure of the rootfs names: "rootfs /srv/box: cannot mount ...".
auto rootfs_context(const InitPlan& plan) {
    return [&plan] {
        return image_name(plan).empty() ? fmt::format("rootfs {}", quote(plan.rootfs.rootfs))
                                        : image_name(plan);
    };
}

// The rootfs up to the pivot (rootfs_setup.hpp); the command's path inside it.
std::string build_rootfs(const InitPlan& plan, const MountSchedule& schedule) {
    const RunOptions& options = *plan.options;
    if (image_name(plan).empty()) {
        in_context(rootfs_context(plan), [&] { setup_rootfs(plan.rootfs, schedule); });
        return plan.command_path;
    }
    RootfsPlan image_plan = plan.rootfs;
    image_plan.rootfs = in_context(rootfs_context(plan), [&] {
        return plan.image_loop.empty() ? mount_layers_rootfs(plan.image_layers)
                                       : mount_image_rootfs(plan.image_loop);
    });
    // Only now can the command be looked for; the image's own symlinks resolve inside it.
    std::string command_path =
        resolve_command(image_plan.rootfs, options.command.front(), plan.env, image_name(plan));
    in_context(rootfs_context(plan), [&] { setup_rootfs(image_plan, schedule); });
    return command_path;
}

void enter_network_namespace(const UniqueFd& network_namespace) {
    if (::setns(network_namespace.get(), CLONE_NEWNET) != 0) {
        throw_errno("cannot enter the container's network namespace", errno);
    }
}

// The doors setup_done carries (init_channel.hpp): `value` to enter, then as many to
// leave by.
CgroupDoors doors_of(InitNote& setup_done) {
    const auto entries = static_cast<std::size_t>(setup_done.value);
    if (setup_done.value < 0 || setup_done.fds.size() != 2 * entries) {
        throw Error(fmt::format("berth sent setup_done with {} cgroup files for {} cgroups",
                                setup_done.fds.size(), setup_done.value));
    }
    CgroupDoors doors;
    for (std::size_t i = 0; i < setup_done.fds.size(); ++i) {
        (i < entries ? doors.entries : doors.exits).push_back(setup_done.take_fd(i));
    }
    return doors;
}

// Joins the namespaces of `types` among the plan's joined ones (linux.namespaces with a
// path), true when there was one.
bool join_namespaces(const InitPlan& plan, int types) {
    bool joined = false;
    for (const auto& [fd, type] : plan.joined_namespaces) {
        if ((type & types) == 0) {
            continue;
        }
        if (::setns(fd, type) != 0) {
            throw_errno(fmt::format("cannot join the {} namespace of linux.namespaces",
                                    type == CLONE_NEWIPC   ? "ipc"
                                    : type == CLONE_NEWUTS ? "uts"
                                                           : "cgroup"),
                        errno);
        }
        joined = true;
    }
    return joined;
}

// Now that init is in its cgroups, they become the container's cgroup root (or the
// container joins the cgroup namespace its config names).
void enter_own_cgroup_namespace(const InitPlan& plan) {
    if (join_namespaces(plan, CLONE_NEWCGROUP)) {
        return;
    }
    if (::unshare(CLONE_NEWCGROUP) != 0) {
        throw_errno("cannot create a cgroup namespace", errno);
    }
}

void bring_up_network(const InitPlan& plan) {
    const NetMode net = plan.options->net;
    // When berth made the namespace, it brought lo up there already.
    if (net != NetMode::host && !plan.network_namespace_from_berth) {
        net::set_loopback_up();
    }
    if (net == NetMode::bridge && plan.address) {
        in_context([] { return std::string("--net bridge"); },
                   [&] { net::configure_bridge_interface(*plan.address); });
    }
}

// What the command's process needs from init. It shares init's memory (start_command),
// so a failure before exec is left here for init to report.
struct CommandStart {
    const InitPlan* plan;
    const std::string* command_path;
    int tty_slave;
    std::optional<Error> failure;
    char* stack = nullptr;  // the command's process's own stack
    std::size_t stack_size = 0;
    const void* init_stack_bottom = nullptr;  // init's, while the command's process runs
    std::size_t init_stack_size = 0;
};

// ASan keeps one record per thread of where its stack is, and the command's process
// shares init's memory, that record included, while it runs on a stack ASan has never
// seen. Without telling ASan, a throw there (exec failed) is "ignoring requested
// __asan_handle_no_return" (3 lines on stderr), the frames it unwinds stay poisoned, and
// the next calls into that memory report stack-use-after-scope: false reports, not bugs
// (every access is inside the heap block that is the stack). So the command's process
// announces its stack as a fiber switch, and init switches back once it resumes (the
// process has exec'd or exited by then: CLONE_VFORK). Nothing happens without ASan.
void enter_command_stack([[maybe_unused]] CommandStart& start) {
#ifdef BERTH_ASAN
    void* fake_stack = nullptr;
    __sanitizer_start_switch_fiber(&fake_stack, start.stack, start.stack_size);
    __sanitizer_finish_switch_fiber(fake_stack, &start.init_stack_bottom, &start.init_stack_size);
#endif
}

void back_on_init_stack([[maybe_unused]] const CommandStart& start) {
#ifdef BERTH_ASAN
    void* fake_stack = nullptr;
    __sanitizer_start_switch_fiber(&fake_stack, start.init_stack_bottom, start.init_stack_size);
    __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
    // The frames the command's process left behind are poison in the heap block.
    ASAN_UNPOISON_MEMORY_REGION(start.stack, start.stack_size);
#endif
}

// The interpreter a script's "#!" line names, or empty (not a script, or unreadable).
std::string script_interpreter(const std::string& path) {
    UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    char head[256];
    const ssize_t got = file ? ::read(file.get(), head, sizeof head) : -1;
    if (got < 2 || head[0] != '#' || head[1] != '!') {
        return {};
    }
    const std::string_view line(head + 2, static_cast<std::size_t>(got) - 2);
    const auto start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos) {
        return {};
    }
    const auto end = line.find_first_of(" \t\n", start);
    return std::string(line.substr(start, end == std::string_view::npos ? end : end - start));
}

// Why execve failed, with podman's statuses. resolve_command found the file, so ENOENT
// means what it needs is missing: the interpreter of its #! line, or the ELF's dynamic
// loader (127, not found); a file the kernel refuses to run is 126; the rest is ours.
Error exec_failure(const std::string& command, int err) {
    if (err == ENOENT || err == ENOTDIR) {
        const std::string interpreter = script_interpreter(command);
        return Error(interpreter.empty()
                         ? fmt::format("command {} cannot start: the program interpreter (dynamic "
                                       "loader) it needs is not in the rootfs",
                                       quote(command))
                         : fmt::format("command {} cannot start: its interpreter {} (its #! "
                                       "line) is not in the rootfs",
                                       quote(command), quote(interpreter)),
                     command_not_found);
    }
    if (err == EACCES || err == ENOEXEC || err == EISDIR || err == ETXTBSY || err == ELOOP ||
        err == EPERM) {
        return Error(
            errno_message(fmt::format("command {} cannot be executed", quote(command)), err),
            command_not_executable);
    }
    return Error(errno_message(fmt::format("cannot execute {}", quote(command)), err));
}

}  // namespace

// -t: the pty comes from the container's own devpts (so that ttyname() works inside);
// berth gets the master, init keeps the slave for the command.
PtyPair open_terminal(const InitChannel& berth, const std::optional<WindowSize>& size) {
    PtyPair tty = PtyPair::open(size);
    const int master = tty.master.get();
    if (!berth.send(InitMessage::terminal, 0, {}, std::span(&master, 1))) {
        ::_exit(static_cast<int>(runtime_failure));  // berth is gone
    }
    tty.master.reset();
    return tty;
}

namespace {

// The command's working directory exists (or will be made) and is a directory. Init is
// root here, so only that is checked: whether the command's user may enter it is for its
// chdir to say.
void check_workdir(const RunOptions& options) {
    if (options.create_workdir) {
        return;
    }
    struct stat dir {};
    const int err = ::stat(options.workdir.c_str(), &dir) != 0 ? errno
                    : S_ISDIR(dir.st_mode)                     ? 0
                                                               : ENOTDIR;
    if (err != 0) {
        throw bad_input(fmt::format("{} {} cannot be entered in the rootfs: {}",
                                    options.shown_as.workdir, quote(options.workdir),
                                    std::strerror(err)));
    }
}

}  // namespace

// In the command's process: the last steps, then exec.
[[noreturn]] void exec_command(const InitPlan& plan, const std::string& command_path,
                               int tty_slave) {
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
    if (options.create_workdir && ::chdir(options.workdir.c_str()) != 0 && errno == ENOENT) {
        // Inside the container's root already: the image's symlinks stay in it.
        std::error_code ignored;  // the chdir below says what went wrong
        std::filesystem::create_directories(options.workdir, ignored);
    }
    if (::chdir(options.workdir.c_str()) != 0) {
        throw bad_input(fmt::format("{} {} cannot be entered in the rootfs: {}",
                                    options.shown_as.workdir, quote(options.workdir),
                                    std::strerror(errno)));
    }
    // Only stdin, stdout and stderr go to the command, whatever berth's caller left open
    // (and with --preserve-fds N, the caller's next N).
    ::close_range(3 + options.preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);
    drop_privileges(options.capabilities, options.user, plan.user_namespace);
    // After the user switch, which clears it. berth kills init to stop a container;
    // in a pid namespace of its own that ends everything in it.
    if (plan.pid_namespace_joined && ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
        throw_errno("cannot tie the command to the container's init", errno);
    }
    set_no_new_privileges();
    ::umask(options.umask);
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
    if (options.seccomp) {
        load_seccomp_program(options.seccomp->program, options.seccomp->flags);
    } else if (!options.config_seccomp) {
        load_seccomp_program(default_seccomp_program());
    }
    phase_mark("exec");  // `berth bench startup` (BERTH_PHASES only)
    ::execve(command_path.c_str(), argv.data(), envp.data());
    throw exec_failure(command_path, errno);
}

Error as_start_failure(const Error& error) {
    return error.status() == ExitStatus::failure ? Error(error.what(), runtime_failure) : error;
}

namespace {

int run_command(void* argument) {
    auto& start = *static_cast<CommandStart*>(argument);
    enter_command_stack(start);
    try {
        exec_command(*start.plan, *start.command_path, start.tty_slave);
    } catch (const Error& e) {
        start.failure = as_start_failure(e);
    } catch (const std::exception& e) {
        start.failure = Error(e.what(), runtime_failure);
    }
    ::_exit(static_cast<int>(start.failure->status()));
}

// Starts the command's process; its pid (2), once it has exec'd. Like vfork: the
// process shares init's memory and init sleeps until it has exec'd or exited, so no
// page tables are copied for it nor torn down again at exec (a fork of berth cost
// ~0.2 ms here). It runs on a stack of its own, has its own descriptors, directories,
// credentials and seccomp filter, and init is single-threaded, so no lock can be held
// by anyone else meanwhile; what it allocates on the shared heap before exec is only
// lost to init. Throws the command's process's own error when it failed before exec.
pid_t start_command(const InitPlan& plan, const std::string& command_path,
                    const std::optional<PtyPair>& tty) {
    CommandStart start{&plan, &command_path, tty ? tty->slave.get() : -1, std::nullopt};
    // Below malloc's mmap threshold (128 KiB), so the stack comes from heap pages berth
    // has touched already instead of a fresh mapping that faults in page by page.
    constexpr std::size_t stack_size = 64 * 1024;
    const std::unique_ptr<char[]> stack(new char[stack_size]);
    start.stack = stack.get();
    start.stack_size = stack_size;
    const pid_t pid =
        ::clone(run_command, stack.get() + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
    if (pid >= 0) {
        back_on_init_stack(start);
    }
    if (pid < 0) {
        throw_errno("cannot start the command's process", errno);
    }
    if (start.failure) {
        throw *start.failure;
    }
    return pid;
}

// Reaps everything and passes signals on; leaves with the command's status.
[[noreturn]] void reap_until_command_exits(const InitPlan& plan, pid_t command, bool notify_exit) {
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
                    phase_mark("command_ended");  // BERTH_PHASES only
                    const int code = encode_wait_status(status);
                    if (notify_exit) {
                        try {
                            plan.channel->send(InitMessage::command_exited, code);
                        } catch (const Error&) {
                            // berth then learns the status from init's exit instead.
                        }
                    }
                    ::_exit(code);
                }
            }
        } else if (info.si_signo != SIGWINCH) {
            ::kill(command, info.si_signo);
        }
    }
}

}  // namespace

[[noreturn]] void run_init(const InitPlan& plan) {
    const InitChannel& berth = *plan.channel;
    ::close(plan.berth_end);
    bool setup_done = false;  // berth has made init's cgroups and plugged in its veth
    std::optional<PtyPair> tty;
    pid_t command = -1;
    std::vector<UniqueFd> exits;  // the cgroups' parents, once init is in the cgroups
    bool started = false;         // past the start gate: nobody may listen on the channel
    try {
        await(berth, InitMessage::user_namespace_mapped);
        if (plan.become_namespace_root) {
            become_namespace_root(plan.user_namespace);
        }
        // Not dumpable: the container's processes cannot ptrace init or open /proc/1/exe
        // (the berth binary on the host). Only now: rootless berth needed /proc/PID
        // writable for the maps.
        ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (!plan.joined_namespaces.empty()) {
            join_namespaces(plan, CLONE_NEWIPC | CLONE_NEWUTS);
        }
        if (!plan.options->hostname.empty()) {
            set_hostname(plan.options->hostname);
        }
        if (!plan.options->domainname.empty() &&
            ::setdomainname(plan.options->domainname.data(), plan.options->domainname.size()) !=
                0) {
            throw_errno("cannot set the domain name", errno);
        }
        const MountSchedule mounts = schedule_mounts(plan.rootfs);
        const std::string command_path = build_rootfs(plan, mounts);
        if (plan.network_namespace_from_berth) {
            enter_network_namespace(await(berth, InitMessage::network_namespace).take_fd());
        }
        in_context(rootfs_context(plan), [&] { finish_rootfs(plan.rootfs, mounts); });
        write_sysctls(plan.rootfs);
        phase_mark("rootfs");  // pivoted, /proc, /dev and /sys in place
        if (plan.terminal) {
            tty = open_terminal(berth, plan.options->console_size);
        }
        // OCI only (ct run has neither), here so that a limit the host refuses fails
        // create, not the command after start; the command inherits them.
        apply_process_limits(*plan.options);
        // Likewise a working directory that is not there fails create (as with runc),
        // not the command once started, when only the container's stderr would hear it.
        check_workdir(*plan.options);
        InitNote go = await(berth, InitMessage::setup_done);
        setup_done = true;
        CgroupDoors cgroups = doors_of(go);
        in_context([] { return std::string("cannot join the container's cgroups"); },
                   [&] { move_self_through(cgroups.entries); });
        exits = std::move(cgroups.exits);
        enter_own_cgroup_namespace(plan);
        in_context(rootfs_context(plan),
                   [&] { finish_rootfs_in_cgroup_namespace(plan.rootfs, mounts); });
        bring_up_network(plan);
        if (plan.start_gate >= 0) {
            wait_at_start_gate(berth, plan.start_gate);
            started = true;
        }
        command = start_command(plan, command_path, tty);
    } catch (const Error& e) {
        report_and_exit(berth, setup_done, as_start_failure(e), started);
    } catch (const std::exception& e) {
        report_and_exit(berth, setup_done, Error(e.what(), runtime_failure), started);
    }
    try {
        berth.send(InitMessage::command_started);
    } catch (const Error&) {
        // berth then sees the channel's end and waits for init's status as usual.
    }
    tty.reset();
    // The command runs, so init is needed in the cgroups no more: out of them, it does
    // not keep them busy while it exits, and berth can remove them as soon as the
    // command has ended (command_exited says when). Where init cannot leave (a v2
    // parent that delegates controllers may hold no process), berth waits for its exit.
    bool left = !exits.empty();
    try {
        move_self_through(exits);
    } catch (const Error&) {
        left = false;
    }
    exits.clear();
    reap_until_command_exits(plan, command, plan.notify_exit && left);
}

}  // namespace berth::container
