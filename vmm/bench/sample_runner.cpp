#include "vmm/bench/sample_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/phase_clock.hpp"
#include "vmm/common/process.hpp"
#include "vmm/common/unique_fd.hpp"

extern char** environ;

namespace berth::bench {

namespace {

// The descriptor the command finds its phase pipe on.
constexpr int phase_fd_in_child = 3;

struct Pipe {
    UniqueFd read;
    UniqueFd write;
};

// A pipe whose ends sit at 10 or above, so that dup2 onto 0-3 in the child never
// meets a descriptor that is already there (dup2 onto itself keeps close-on-exec).
Pipe make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        throw_errno("cannot create a pipe", errno);
    }
    UniqueFd low_read(fds[0]);
    UniqueFd low_write(fds[1]);
    Pipe pipe{UniqueFd(::fcntl(fds[0], F_DUPFD_CLOEXEC, 10)),
              UniqueFd(::fcntl(fds[1], F_DUPFD_CLOEXEC, 10))};
    if (!pipe.read || !pipe.write) {
        throw_errno("cannot move a pipe's descriptors", errno);
    }
    return pipe;
}

bool contains_line(const std::string& text, std::string_view line) {
    std::size_t at = 0;
    while ((at = text.find(line, at)) != std::string::npos) {
        const bool starts = at == 0 || text[at - 1] == '\n';
        const std::size_t end = at + line.size();
        const bool ends = end == text.size() || text[end] == '\n' || text[end] == '\r';
        if (starts && ends) {
            return true;
        }
        at = end;
    }
    return false;
}

// Splits complete "name ns" lines off `pending` into `marks`.
void take_marks(std::string& pending, std::vector<std::pair<std::string, std::int64_t>>& marks) {
    std::size_t newline;
    while ((newline = pending.find('\n')) != std::string::npos) {
        const std::string line = pending.substr(0, newline);
        pending.erase(0, newline + 1);
        const std::size_t space = line.find(' ');
        if (space == std::string::npos) {
            continue;
        }
        marks.emplace_back(line.substr(0, space), std::stoll(line.substr(space + 1)));
    }
}

}  // namespace

bool SampleRun::has_line(std::string_view line) const {
    return contains_line(output, line);
}

std::string SampleRun::last_words() const {
    for (const std::string* text : {&errors, &output}) {
        std::string_view rest(*text);
        while (!rest.empty() &&
               (rest.back() == '\n' || rest.back() == '\r' || rest.back() == ' ')) {
            rest.remove_suffix(1);
        }
        if (!rest.empty()) {
            const std::size_t newline = rest.find_last_of('\n');
            return std::string(newline == std::string_view::npos ? rest : rest.substr(newline + 1));
        }
    }
    return "no output";
}

SampleRun run_sample(const SampleSpec& spec) {
    Pipe out = make_pipe();
    Pipe err = make_pipe();
    std::optional<Pipe> phases;
    if (spec.record_phases) {
        phases = make_pipe();
    }
    std::optional<Pipe> input;
    if (!spec.stdin_text.empty()) {
        input = make_pipe();
        if (::write(input->write.get(), spec.stdin_text.data(), spec.stdin_text.size()) !=
            static_cast<ssize_t>(spec.stdin_text.size())) {
            throw_errno("cannot fill the stdin pipe of a sample", errno);
        }
        input->write.reset();  // the command reads the bytes, then the end of its input
    }
    SpawnRequest request(spec.argv);
    request.env.emplace();
    request.stdin_from_null = !input;
    request.descriptors = {{out.write.get(), 1}, {err.write.get(), 2}};
    if (input) {
        request.descriptors.emplace_back(input->read.get(), 0);
    }
    for (char** entry = environ; *entry != nullptr; ++entry) {
        if (!std::string_view(*entry).starts_with("BERTH_PHASES=")) {
            request.env->emplace_back(*entry);
        }
    }
    if (phases) {
        request.descriptors.emplace_back(phases->write.get(), phase_fd_in_child);
        request.env->push_back(fmt::format("BERTH_PHASES={}", phase_fd_in_child));
    }

    SampleRun run;
    run.spawn_ns = monotonic_ns();
    ChildProcess child = ChildProcess::spawn(request);
    input.reset();
    out.write.reset();
    err.write.reset();
    if (phases) {
        phases->write.reset();
    }
    // On a throw from here on, `child` is killed and reaped.
    UniqueFd process(static_cast<int>(::syscall(SYS_pidfd_open, child.pid(), 0)));
    if (!process) {
        throw_errno("cannot open a pidfd", errno);
    }

    const std::int64_t deadline =
        run.spawn_ns + static_cast<std::int64_t>(spec.timeout_seconds * 1e9);
    std::string pending_marks;
    bool exited = false;
    // After the exit: a moment more for output still in the pipes.
    std::int64_t drain_deadline = 0;
    for (;;) {
        pollfd fds[4] = {{out.read.get(), POLLIN, 0},
                         {err.read.get(), POLLIN, 0},
                         {phases ? phases->read.get() : -1, POLLIN, 0},
                         {exited ? -1 : process.get(), POLLIN, 0}};
        const bool open_pipes = out.read || err.read || (phases && phases->read);
        if (exited && !open_pipes) {
            break;
        }
        const std::int64_t now = monotonic_ns();
        const std::int64_t until = exited ? drain_deadline : deadline;
        if (now >= until) {
            if (exited) {
                break;
            }
            ::kill(child.pid(), SIGKILL);
            run.timed_out = true;
            exited = true;
            run.exit_ns = now;
            drain_deadline = now + 1'000'000'000;
            continue;
        }
        const int wait_ms = static_cast<int>((until - now) / 1'000'000) + 1;
        if (::poll(fds, 4, wait_ms) < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_errno("poll failed", errno);
        }
        const std::int64_t seen = monotonic_ns();
        if (!exited && (fds[3].revents & POLLIN) != 0) {
            exited = true;
            run.exit_ns = seen;
            drain_deadline = seen + 2'000'000'000LL;
        }
        char buffer[65536];
        for (int i = 0; i < 3; ++i) {
            if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
                continue;
            }
            UniqueFd& fd = i == 0 ? out.read : i == 1 ? err.read : phases->read;
            const ssize_t length = ::read(fd.get(), buffer, sizeof buffer);
            if (length <= 0) {
                if (length == 0 || errno != EINTR) {
                    fd.reset();
                }
                continue;
            }
            const std::string_view chunk(buffer, static_cast<std::size_t>(length));
            if (i == 0) {
                if (!run.first_output_ns) {
                    run.first_output_ns = seen;
                }
                run.output.append(chunk);
                if (!run.watch_line_ns && !spec.watch_line.empty() &&
                    run.has_line(spec.watch_line)) {
                    run.watch_line_ns = seen;
                    if (spec.on_watch_line) {
                        spec.on_watch_line();
                    }
                }
            } else if (i == 1) {
                run.errors.append(chunk);
            } else {
                pending_marks.append(chunk);
                take_marks(pending_marks, run.marks);
            }
        }
    }
    run.status = child.wait();
    return run;
}

}  // namespace berth::bench
