#pragma once
// Child processes: starting a program, waiting for it, and its status in the shell's
// convention (the exit code, or 128 + N when signal N ended it), which is what berth
// exits with when it passes a child's status on (ct run, image build, benchmarks).

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace berth {

// The shell's number for a wait status from waitpid: the exit code, or 128 + N.
int encode_wait_status(int status);

// How to start a program with posix_spawn: the program and its arguments, the rest as
// berth has it unless set.
struct SpawnRequest {
    // NOLINTNEXTLINE(google-explicit-constructor): run_to_end({{"sh", "-c", "..."}})
    SpawnRequest(std::vector<std::string> program_and_arguments)
        : argv(std::move(program_and_arguments)) {}

    std::vector<std::string> argv;  // argv[0] is looked up in PATH unless it holds a '/'
    // The program's environment; berth's own when not given.
    std::optional<std::vector<std::string>> env;
    bool stdin_from_null = false;
    // (berth's descriptor, the program's) pairs, dup2'd in this order in the child. A
    // source must not be one of the targets that an earlier pair overwrote. berth's
    // descriptors are close-on-exec, so the program gets only these and 0-2.
    std::vector<std::pair<int, int>> descriptors;
    std::string cwd;  // empty: berth's
};

// A child process of berth: killed (SIGKILL) and reaped when the object goes away
// before it was reaped, so that no path out of berth leaves one running or a zombie.
class ChildProcess {
public:
    ChildProcess() = default;
    // Takes over `pid`, a child of this process (fork, clone).
    explicit ChildProcess(pid_t pid) : pid_(pid) {}
    // Throws berth::Error "cannot start ARGV0: ..." when posix_spawn fails.
    static ChildProcess spawn(const SpawnRequest& request);
    ~ChildProcess();
    ChildProcess(ChildProcess&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}
    ChildProcess& operator=(ChildProcess&& other) noexcept;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    // -1 once reaped.
    pid_t pid() const { return pid_; }
    // Blocks until the child ends; its encoded status. Throws berth::Error when waitpid
    // fails (not a child of ours).
    int wait();
    // Without blocking: the encoded status once the child has ended.
    std::optional<int> poll();
    // Stops owning the child, which outlives this object (an OCI container's init after
    // `berth create`); its pid.
    pid_t release() { return std::exchange(pid_, -1); }

private:
    void kill_and_reap() noexcept;

    pid_t pid_ = -1;
};

// Starts the program and waits for its end; its encoded status.
int run_to_end(const SpawnRequest& request);

}  // namespace berth
