#include "vmm/container/oci_hooks.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/process.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::container::oci {

namespace {

// What berth keeps of a hook's stdout and stderr for its error message.
constexpr std::size_t kept_output = 4096;

// The container's namespaces a createContainer or startContainer hook enters; the pid
// namespace first (it takes effect for a child), so that the container's /proc, where
// /dev/fd points, shows the hook itself.
constexpr std::pair<const char*, int> container_namespaces[] = {
    {"pid", CLONE_NEWPID}, {"ipc", CLONE_NEWIPC},       {"uts", CLONE_NEWUTS},
    {"net", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP}, {"mnt", CLONE_NEWNS},
};

std::vector<char*> pointers(const std::vector<std::string>& strings) {
    std::vector<char*> result;
    for (const auto& text : strings) {
        result.push_back(const_cast<char*>(text.c_str()));
    }
    result.push_back(nullptr);
    return result;
}

// The forked hook: stdin from `input`, stdout and stderr to `output`, into the
// container's namespaces when asked, then exec. Only async-signal-safe calls after fork
// matter little here: berth is single-threaded.
[[noreturn]] void exec_hook(const Hook& hook, int program, int input, int output,
                            const std::vector<int>& namespaces, const std::vector<int>& berths) {
    ::dup2(input, 0);
    ::dup2(output, 1);
    ::dup2(output, 2);
    // berth's ends of the pipes: the waiter in the pid namespace never execs, and would
    // keep the hook's stdin open (no end of file) with them.
    for (const int fd : berths) {
        ::close(fd);
    }
    for (std::size_t i = 0; i < namespaces.size(); ++i) {
        // The fd's type is the namespace's; 0 lets the kernel take it from the fd.
        if (::setns(namespaces[i], 0) != 0) {
            const int err = errno;
            ::dprintf(2, "cannot enter the container's namespaces: %s\n", std::strerror(err));
            ::_exit(126);
        }
        if (i == 0) {
            // In the pid namespace only a child is: it runs the hook, this waits for it.
            const pid_t hook_process = ::fork();
            if (hook_process < 0) {
                ::_exit(126);
            }
            if (hook_process > 0) {
                int status = 0;
                while (::waitpid(hook_process, &status, 0) < 0 && errno == EINTR) {
                }
                ::_exit(encode_wait_status(status));
            }
            // Killed with the waiter, which a timeout kills.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        }
    }
    std::vector<std::string> args = hook.args.empty() ? std::vector{hook.path} : hook.args;
    const auto argv = pointers(args);
    const auto envp = pointers(hook.env);
    ::syscall(SYS_execveat, program, "", argv.data(), envp.data(), AT_EMPTY_PATH);
    ::dprintf(2, "cannot execute: %s\n", std::strerror(errno));
    ::_exit(127);
}

// The last non-empty line of the hook's output, for the one-line error.
std::string last_line(std::string output) {
    while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) {
        output.pop_back();
    }
    const auto newline = output.rfind('\n');
    return newline == std::string::npos ? output : output.substr(newline + 1);
}

void run_hook(const Hook& hook, const std::string& name, const std::string& state, HookPlace place,
              pid_t pid) {
    // Opened here, in berth's namespaces, where the spec resolves the path; not
    // close-on-exec, so that a script's interpreter can read it through /dev/fd.
    UniqueFd program(::open(hook.path.c_str(), O_PATH));
    if (!program) {
        throw_errno(fmt::format("{} ({}): cannot open", name, quote(hook.path)), errno);
    }
    std::vector<UniqueFd> namespaces;
    if (place == HookPlace::container) {
        for (const auto& [ns, type] : container_namespaces) {
            const std::string path = fmt::format("/proc/{}/ns/{}", pid, ns);
            UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
            if (!fd) {
                throw_errno(fmt::format("{}: cannot open the container's {} namespace", name, ns),
                            errno);
            }
            namespaces.push_back(std::move(fd));
        }
    }
    std::vector<int> namespace_fds;
    for (const auto& fd : namespaces) {
        namespace_fds.push_back(fd.get());
    }
    int in[2];
    int out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) {
        throw_errno(fmt::format("{}: cannot make a pipe", name), errno);
    }
    UniqueFd in_read(in[0]);
    UniqueFd in_write(in[1]);
    if (::pipe2(out, O_CLOEXEC) != 0) {
        throw_errno(fmt::format("{}: cannot make a pipe", name), errno);
    }
    UniqueFd out_read(out[0]);
    UniqueFd out_write(out[1]);
    const pid_t child = ::fork();
    if (child < 0) {
        throw_errno(fmt::format("{}: cannot fork", name), errno);
    }
    if (child == 0) {
        exec_hook(hook, program.get(), in_read.get(), out_write.get(), namespace_fds,
                  {in_write.get(), out_read.get()});
    }
    ChildProcess process(child);
    in_read.reset();
    out_write.reset();
    program.reset();
    // The state is a few hundred bytes, below a pipe's buffer: written at once. A hook
    // that does not read it (most) closes its end: EPIPE is no failure.
    const sighandler_t old = ::signal(SIGPIPE, SIG_IGN);
    [[maybe_unused]] const ssize_t written = ::write(in_write.get(), state.data(), state.size());
    ::signal(SIGPIPE, old);
    in_write.reset();

    const UniqueFd exited(static_cast<int>(::syscall(SYS_pidfd_open, child, 0)));
    if (!exited) {
        throw_errno(fmt::format("{}: cannot watch the hook's process", name), errno);
    }
    const auto deadline =
        hook.timeout ? std::chrono::steady_clock::now() + std::chrono::seconds(*hook.timeout)
                     : std::chrono::steady_clock::time_point::max();
    std::string output;
    bool output_open = true;
    for (;;) {
        pollfd fds[2] = {{exited.get(), POLLIN, 0}, {out_read.get(), POLLIN, 0}};
        int wait_ms = -1;
        if (hook.timeout) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            wait_ms = static_cast<int>(std::max<std::int64_t>(left.count(), 0));
        }
        const int ready = ::poll(fds, output_open ? 2 : 1, wait_ms);
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready == 0) {
            // ~ChildProcess kills and reaps it.
            throw Error(fmt::format("{} ({}): timed out after {} s", name, quote(hook.path),
                                    *hook.timeout));
        }
        if (output_open && (fds[1].revents & (POLLIN | POLLHUP)) != 0) {
            char buffer[1024];
            const ssize_t got = ::read(out_read.get(), buffer, sizeof buffer);
            if (got <= 0) {
                output_open = false;
            } else if (output.size() < kept_output) {
                output.append(buffer, static_cast<std::size_t>(got));
            }
            continue;
        }
        if ((fds[0].revents & POLLIN) != 0) {
            break;
        }
    }
    const int status = process.wait();
    if (output_open) {
        // What the hook wrote just before it ended (a descendant may hold the pipe: no wait).
        ::fcntl(out_read.get(), F_SETFL, O_NONBLOCK);
        char buffer[1024];
        ssize_t got;
        while (output.size() < kept_output &&
               (got = ::read(out_read.get(), buffer, sizeof buffer)) > 0) {
            output.append(buffer, static_cast<std::size_t>(got));
        }
    }
    if (status != 0) {
        const std::string said = last_line(output);
        throw Error(fmt::format("{} ({}): {} {}{}{}", name, quote(hook.path),
                                status > 128 ? "killed by signal" : "exited with status",
                                status > 128 ? status - 128 : status, said.empty() ? "" : ": ",
                                said));
    }
}

}  // namespace

void check_hooks(const Hooks& hooks) {
    for (const auto& [stage, list] : hook_stages(hooks)) {
        for (std::size_t i = 0; i < list->size(); ++i) {
            const std::string& path = (*list)[i].path;
            if (::access(path.c_str(), X_OK) != 0) {
                throw bad_input(errno_message(
                    fmt::format("hooks.{}[{}].path: {}", stage, i, quote(path)), errno));
            }
        }
    }
}

void run_hooks(const std::vector<Hook>& hooks, std::string_view stage, const std::string& state,
               HookPlace place, pid_t pid, HookFailure failure) {
    for (std::size_t i = 0; i < hooks.size(); ++i) {
        try {
            run_hook(hooks[i], fmt::format("{} hook {}", stage, i), state, place, pid);
        } catch (const Error& e) {
            if (failure == HookFailure::fail) {
                throw;
            }
            fmt::print(stderr, "berth: warning: {}\n", one_line(e.what()));
        }
    }
}

}  // namespace berth::container::oci
