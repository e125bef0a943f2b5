// Child processes (common/process.hpp): the shell's status convention, spawning with
// redirected descriptors, and the kill-and-reap of a child that is let go.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "vmm/common/error.hpp"
#include "vmm/common/process.hpp"
#include "vmm/common/unique_fd.hpp"

using berth::ChildProcess;
using berth::SpawnRequest;

namespace {

std::string read_all(int fd) {
    std::string text;
    char buffer[256];
    ssize_t length;
    while ((length = ::read(fd, buffer, sizeof buffer)) > 0) {
        text.append(buffer, static_cast<std::size_t>(length));
    }
    return text;
}

}  // namespace

TEST_CASE("an exit code is the status, a death by signal N is 128+N", "[process]") {
    CHECK(berth::run_to_end({{"/bin/sh", "-c", "exit 0"}}) == 0);
    CHECK(berth::run_to_end({{"sh", "-c", "exit 7"}}) == 7);  // found in PATH
    CHECK(berth::run_to_end({{"sh", "-c", "kill -TERM $$"}}) == 128 + SIGTERM);
    CHECK(berth::run_to_end({{"sh", "-c", "kill -KILL $$"}}) == 128 + SIGKILL);
}

TEST_CASE("the encoder reads raw wait statuses the way the shell does", "[process]") {
    const pid_t exits = ::fork();
    if (exits == 0) {
        ::_exit(42);
    }
    REQUIRE(exits > 0);
    int status = 0;
    REQUIRE(::waitpid(exits, &status, 0) == exits);
    CHECK(berth::encode_wait_status(status) == 42);

    const pid_t killed = ::fork();
    if (killed == 0) {
        ::raise(SIGUSR1);
        ::_exit(0);
    }
    REQUIRE(killed > 0);
    REQUIRE(::waitpid(killed, &status, 0) == killed);
    CHECK(berth::encode_wait_status(status) == 128 + SIGUSR1);
}

TEST_CASE("a spawned program gets its descriptors, environment, directory and no stdin",
          "[process]") {
    int ends[2];
    REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
    berth::UniqueFd read_end(ends[0]);
    berth::UniqueFd write_end(ends[1]);
    SpawnRequest request({"sh", "-c", "echo \"$GREETING $(pwd)\"; cat; echo end"});
    request.env = std::vector<std::string>{"GREETING=hello", "PATH=/usr/bin:/bin"};
    request.stdin_from_null = true;
    request.descriptors = {{write_end.get(), 1}};
    request.cwd = "/tmp";
    ChildProcess child = ChildProcess::spawn(request);
    write_end.reset();
    CHECK(read_all(read_end.get()) == "hello /tmp\nend\n");
    CHECK(child.wait() == 0);
    CHECK(child.pid() == -1);
}

TEST_CASE("a program that cannot start names itself", "[process]") {
    try {
        berth::run_to_end({{"/nonexistent/program"}});
        FAIL("no error");
    } catch (const berth::Error& e) {
        CHECK(std::string(e.what()).starts_with("cannot start /nonexistent/program: "));
    }
}

TEST_CASE("a child let go is killed and reaped; poll sees it end", "[process]") {
    pid_t pid = -1;
    {
        ChildProcess child = ChildProcess::spawn({{"sleep", "30"}});
        pid = child.pid();
        REQUIRE(pid > 0);
        CHECK_FALSE(child.poll().has_value());
    }
    // Reaped: no longer our child.
    CHECK(::waitpid(pid, nullptr, WNOHANG) < 0);
    CHECK(errno == ECHILD);

    ChildProcess quick = ChildProcess::spawn({{"sh", "-c", "exit 3"}});
    std::optional<int> status;
    for (int tries = 0; tries < 500 && !status; ++tries) {
        status = quick.poll();
        if (!status) {
            ::usleep(10'000);
        }
    }
    CHECK(status == 3);
}
