#include "vmm/common/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

extern char** environ;

namespace berth {

namespace {

// posix_spawn's file actions, released on every path.
class FileActions {
public:
    FileActions() { ::posix_spawn_file_actions_init(&actions_); }
    ~FileActions() { ::posix_spawn_file_actions_destroy(&actions_); }
    FileActions(const FileActions&) = delete;
    FileActions& operator=(const FileActions&) = delete;
    posix_spawn_file_actions_t* get() { return &actions_; }

private:
    posix_spawn_file_actions_t actions_{};
};

// A null-terminated array of pointers into `words`, for argv and envp.
std::vector<char*> pointers_to(const std::vector<std::string>& words) {
    std::vector<char*> pointers;
    pointers.reserve(words.size() + 1);
    for (const auto& word : words) {
        pointers.push_back(const_cast<char*>(word.c_str()));
    }
    pointers.push_back(nullptr);
    return pointers;
}

}  // namespace

int encode_wait_status(int status) {
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return WEXITSTATUS(status);
}

ChildProcess ChildProcess::spawn(const SpawnRequest& request) {
    if (request.argv.empty()) {
        throw Error("cannot start a program without a name");
    }
    FileActions actions;
    if (request.stdin_from_null) {
        ::posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0);
    }
    for (const auto& [from, to] : request.descriptors) {
        if (from != to) {
            ::posix_spawn_file_actions_adddup2(actions.get(), from, to);
        }
    }
    if (!request.cwd.empty()) {
        ::posix_spawn_file_actions_addchdir_np(actions.get(), request.cwd.c_str());
    }
    std::vector<char*> argv = pointers_to(request.argv);
    std::vector<char*> envp;
    if (request.env) {
        envp = pointers_to(*request.env);
    }
    pid_t pid = -1;
    const int error = ::posix_spawnp(&pid, argv[0], actions.get(), nullptr, argv.data(),
                                     request.env ? envp.data() : environ);
    if (error != 0) {
        throw_errno(fmt::format("cannot start {}", request.argv.front()), error);
    }
    return ChildProcess(pid);
}

ChildProcess::~ChildProcess() {
    kill_and_reap();
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
        kill_and_reap();
        pid_ = std::exchange(other.pid_, -1);
    }
    return *this;
}

void ChildProcess::kill_and_reap() noexcept {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
    }
}

int ChildProcess::wait() {
    int status = 0;
    pid_t reaped;
    while ((reaped = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
    const pid_t pid = std::exchange(pid_, -1);
    if (reaped < 0) {
        throw_errno(fmt::format("cannot wait for process {}", pid), errno);
    }
    return encode_wait_status(status);
}

std::optional<int> ChildProcess::poll() {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return encode_wait_status(status);
    }
    return std::nullopt;
}

int run_to_end(const SpawnRequest& request) {
    return ChildProcess::spawn(request).wait();
}

}  // namespace berth
