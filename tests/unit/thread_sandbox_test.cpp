// The VMM's per-thread seccomp lists (vmm/sandbox/): every list compiles with
// libseccomp to the very program berth carries, lets through the calls its thread's code
// makes, and traps what no thread of its kind may do (execve, opens, other ioctls) with
// the one-line message and status 159.
//
// Every check of a real filter runs in a forked child: a filter cannot be taken off
// again. Its own process (sandbox-tests), since the children install a SIGSYS handler.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "vmm/common/thread.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/kvm/kvm_abi.hpp"
#include "vmm/sandbox/syscall_list.hpp"
#include "vmm/sandbox/thread_filters.hpp"
#include "vmm/sandbox/thread_sandbox.hpp"

using namespace berth::sandbox;

namespace {

const std::filesystem::path lists_dir = BERTH_SANDBOX_LISTS_DIR;

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

struct ChildResult {
    int status = -1;  // exit status, or -1 when killed by a signal
    std::string stderr_text;
};

// Runs `body` in a forked child with stderr on a pipe; the child exits 0 when the body
// returns.
ChildResult run_child(const std::function<void()>& body) {
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {  // no Catch2 assertion here: the reporter would print it twice
        ::dup2(pipe_fds[1], STDERR_FILENO);
        ::close(pipe_fds[0]);
        ::close(pipe_fds[1]);
        try {
            body();
        } catch (const std::exception& e) {
            const std::string line = std::string("child: ") + e.what() + "\n";
            [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
            ::_exit(3);
        }
        ::_exit(0);
    }
    REQUIRE(pid > 0);
    ::close(pipe_fds[1]);
    ChildResult result;
    char buffer[512];
    ssize_t n = 0;
    while ((n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0) {
        result.stderr_text.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(pipe_fds[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

// Calls the thread kinds make at run time, made harmlessly (a bad fd, a zero timeout):
// under the kind's filter each must come back from the kernel instead of trapping.
using Probe = std::function<void()>;
const std::map<std::string, std::vector<Probe>>& probes() {
    static const Probe bad_fd_read = [] { (void)::read(-1, nullptr, 0); };
    static const Probe bad_fd_write = [] { (void)::write(-1, nullptr, 0); };
    static const Probe zero_poll = [] { (void)::poll(nullptr, 0, 0); };
    static const Probe kick = [] { (void)::syscall(SYS_tgkill, ::getpid(), ::gettid(), 0); };
    static const Probe malloc_and_free = [] {
        void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ::munmap(p, 4096);
    };
    auto ioctl_probe = [](unsigned long request) {
        return Probe([request] { (void)::ioctl(-1, request, 0); });
    };
    static const std::map<std::string, std::vector<Probe>> table = {
        {"vcpu",
         {ioctl_probe(KVM_RUN), ioctl_probe(KVM_IRQ_LINE), ioctl_probe(KVM_SET_GSI_ROUTING),
          ioctl_probe(KVM_IOEVENTFD), ioctl_probe(KVM_GET_REGS), ioctl_probe(KVM_GET_SREGS),
          ioctl_probe(TUNSETOFFLOAD), bad_fd_read, bad_fd_write, zero_poll, kick, malloc_and_free}},
        {"firmware",
         {ioctl_probe(KVM_RUN), ioctl_probe(KVM_GET_REGS), bad_fd_write,
          [] { (void)::close(-1); }}},
        {"main",
         {zero_poll, bad_fd_read, kick, ioctl_probe(KVM_IOEVENTFD), ioctl_probe(TCSETS),
          [] { (void)::close(-1); }, [] { (void)::unlink("/nonexistent/berth"); },
          [] { (void)::openat(AT_FDCWD, "/nonexistent", O_RDONLY | O_DIRECTORY); }}},
        {"console-input", {zero_poll, bad_fd_read, ioctl_probe(KVM_IRQ_LINE), kick}},
        {"api",
         {[] { (void)::accept4(-1, nullptr, nullptr, SOCK_CLOEXEC); }, zero_poll,
          [] { (void)::recv(-1, nullptr, 0, 0); }, [] { (void)::send(-1, nullptr, 0, 0); },
          [] { (void)::syscall(SYS_clone3, nullptr, 0); }, kick,
          // PUT /vm/shutdown, and PUT /vm/snapshot's state and files.
          ioctl_probe(KVM_IRQ_LINE), ioctl_probe(KVM_GET_XSAVE), ioctl_probe(KVM_GET_IRQCHIP),
          [] { (void)::mkdir("/nonexistent/berth", 0755); },
          [] { (void)::openat(AT_FDCWD, "/nonexistent/berth", O_WRONLY | O_CREAT, 0600); },
          [] { (void)::rename("/nonexistent/a", "/nonexistent/b"); }}},
        {"virtio-blk",
         {zero_poll, [] { (void)::pread(-1, nullptr, 0, 0); },
          [] { (void)::pwrite(-1, nullptr, 0, 0); }, [] { (void)::fdatasync(-1); },
          [] { (void)::fallocate(-1, 0, 0, 1); }}},
        {"virtio-rng",
         {zero_poll,
          [] {
              char byte;
              (void)::getrandom(&byte, 1, 0);
          }}},
        {"virtio-console", {zero_poll, bad_fd_read, bad_fd_write}},
        {"virtio-net", {zero_poll, bad_fd_read, bad_fd_write}},
        {"net-user",
         {zero_poll,
          [] {
              const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
              (void)::connect(fd, nullptr, 0);
              (void)::close(fd);
          },
          [] { (void)::recvfrom(-1, nullptr, 0, 0, nullptr, nullptr); },
          [] { (void)::openat(AT_FDCWD, "/etc/resolv.conf", O_RDONLY | O_CLOEXEC); }}},
        {"net-dhcp",
         {zero_poll, [] { (void)::recvfrom(-1, nullptr, 0, 0, nullptr, nullptr); },
          [] { (void)::sendto(-1, nullptr, 0, 0, nullptr, 0); }}},
    };
    return table;
}

std::string expected_line(const std::string& kind, const char* name, long number) {
    return "berth: seccomp: thread " + kind + " made forbidden syscall " + name + " (" +
           std::to_string(number) + "); rerun with --seccomp off and report it\n";
}

void confine(const std::string& kind) {
    install_forbidden_syscall_reporter();
    install_thread_filter(kind);
}

}  // namespace

TEST_CASE("every list compiles to the program berth carries, and every kind has a list") {
    std::set<std::string> kinds;
    auto common = parse_syscall_list(read_text(lists_dir / "common.seccomp"), "common");
    if (BERTH_SANITIZER_LIST) {
        // meson adds it to every list in a sanitizer build only
        const auto extra =
            parse_syscall_list(read_text(lists_dir / "sanitizer.seccomp"), "sanitizer");
        common.insert(common.end(), extra.begin(), extra.end());
    }
    for (const auto& entry : std::filesystem::directory_iterator(lists_dir)) {
        const std::string kind = entry.path().stem().string();
        if (kind == "common" || kind == "sanitizer") {
            continue;
        }
        kinds.insert(kind);
        auto rules = parse_syscall_list(read_text(entry.path()), entry.path().string());
        rules.insert(rules.end(), common.begin(), common.end());
        const auto program = compile_syscall_list(rules);
        bool found = false;
        for (const auto& filter : thread_filters()) {
            if (filter.kind == kind) {
                found = true;
                REQUIRE(filter.program.size() == program.size());
                CHECK(std::memcmp(filter.program.data(), program.data(),
                                  program.size() * sizeof(sock_filter)) == 0);
            }
        }
        INFO(kind);
        CHECK(found);
    }
    CHECK(thread_filters().size() == kinds.size());
    for (const auto& [kind, list] : probes()) {
        INFO(kind);
        CHECK(kinds.count(kind) == 1);
    }
    CHECK(kinds.size() == probes().size());
}

TEST_CASE("the lists' KVM requests are the numbers the KVM code passes") {
    // <linux/kvm.h> read by C++ without vmm/kvm/kvm_abi.hpp gets sizeof(kvm_irq_routing)
    // wrong, and with it KVM_SET_GSI_ROUTING: a list compiled that way trapped every
    // MSI-X route change of a real guest.
    const auto rules = parse_syscall_list("ioctl arg1 == KVM_SET_GSI_ROUTING\n", "x");
    REQUIRE(rules.size() == 1);
    CHECK(rules[0].condition->value == KVM_SET_GSI_ROUTING);
    CHECK(rules[0].condition->value == 0x4008ae6a);
}

TEST_CASE("a list's syntax errors name the file and line") {
    CHECK_THROWS_WITH(parse_syscall_list("read\nnot_a_call\n", "x.seccomp"),
                      Catch::Contains("x.seccomp:2: not_a_call is not an x86-64 system call"));
    CHECK_THROWS_WITH(parse_syscall_list("ioctl arg7 == 1\n", "x.seccomp"),
                      Catch::Contains("x.seccomp:1: expected NAME"));
    CHECK_THROWS_WITH(parse_syscall_list("ioctl arg1 == KVM_NOPE\n", "x.seccomp"),
                      Catch::Contains("KVM_NOPE is neither a number nor a known constant"));
    const auto rules = parse_syscall_list("# c\nmmap arg2 & PROT_EXEC|0x8 == 0 # d\n", "x");
    REQUIRE(rules.size() == 1);
    REQUIRE(rules[0].condition);
    CHECK(rules[0].condition->argument == 2);
    CHECK(rules[0].condition->mask == (PROT_EXEC | 0x8));
}

TEST_CASE("each thread kind's filter lets its thread's calls through") {
    for (const auto& [kind, calls] : probes()) {
        INFO(kind);
        const auto result = run_child([kind = kind, &calls = calls] {
            confine(kind);
            for (const auto& call : calls) {
                call();
            }
        });
        CHECK(result.stderr_text == "");
        CHECK(result.status == 0);
    }
}

TEST_CASE("each thread kind's filter traps execve with one line and status 159") {
    for (const auto& [kind, calls] : probes()) {
        INFO(kind);
        const auto result = run_child([kind = kind] {
            confine(kind);
            char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
            ::execve("/bin/true", argv, nullptr);
        });
        CHECK(result.stderr_text == expected_line(kind, "execve", SYS_execve));
        CHECK(result.status == 159);
        CHECK(result.status == forbidden_syscall_status);
    }
}

// The API thread may: it writes snapshots (and only a local client reaches it).
TEST_CASE("vCPU and device threads may not open files, nor make other KVM ioctls") {
    for (const char* kind : {"vcpu", "firmware", "virtio-blk", "virtio-rng", "virtio-console",
                             "virtio-net", "net-dhcp", "console-input"}) {
        INFO(kind);
        auto result = run_child([kind] {
            confine(kind);
            (void)::openat(AT_FDCWD, "/etc/hostname", O_RDONLY);
        });
        CHECK(result.stderr_text == expected_line(kind, "openat", SYS_openat));
        CHECK(result.status == 159);
    }
    auto result = run_child([] {
        confine("vcpu");
        (void)::ioctl(-1, KVM_CREATE_VM, 0);
    });
    CHECK(result.stderr_text == expected_line("vcpu", "ioctl", SYS_ioctl));
    CHECK(result.status == 159);
}

TEST_CASE("no thread may map executable memory; main may not write-open a file") {
    auto result = run_child([] {
        confine("api");
        (void)::mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    });
    CHECK(result.stderr_text == expected_line("api", "mmap", SYS_mmap));
    result = run_child([] {
        confine("main");
        (void)::openat(AT_FDCWD, "/tmp/berth-sandbox-test", O_WRONLY | O_CREAT, 0600);
    });
    CHECK(result.stderr_text == expected_line("main", "openat", SYS_openat));
    result = run_child([] {
        confine("net-user");
        (void)::socket(AF_NETLINK, SOCK_RAW, 0);
    });
    CHECK(result.stderr_text == expected_line("net-user", "socket", SYS_socket));
}

TEST_CASE("threads of a kind confine themselves as they start, under a VmmSandbox") {
    // The child's main thread stays unconfined; its Thread of kind virtio-rng traps.
    auto result = run_child([] {
        const VmmSandbox sandbox(Seccomp::on);
        berth::Thread("virtio-rng", [] { (void)::unlink("/nonexistent/berth"); }).join();
    });
    CHECK(result.stderr_text == expected_line("virtio-rng", "unlink", SYS_unlink));
    CHECK(result.status == 159);
    // Off: nothing is confined.
    result = run_child([] {
        const VmmSandbox sandbox(Seccomp::off);
        berth::Thread("virtio-rng", [] { (void)::unlink("/nonexistent/berth"); }).join();
    });
    CHECK(result.stderr_text == "");
    CHECK(result.status == 0);
    // A thread of the same kind, started by a confined one, inherits the same list.
    result = run_child([] {
        const VmmSandbox sandbox(Seccomp::on);
        berth::Thread("api", [] {
            berth::Thread("api", [] { (void)::accept4(-1, nullptr, nullptr, 0); }).join();
        }).join();
    });
    CHECK(result.stderr_text == "");
    CHECK(result.status == 0);
    // Another kind would run under both lists: refused with one line.
    result = run_child([] {
        const VmmSandbox sandbox(Seccomp::on);
        berth::Thread("api", [] { berth::Thread("vcpu", [] {}).join(); }).join();
    });
    CHECK(result.stderr_text ==
          "berth: seccomp: thread vcpu was started by thread api and would run under both "
          "lists; start it before the filters (vmm/sandbox/thread_sandbox.hpp); rerun with "
          "--seccomp off\n");
    CHECK(result.status == 1);
}
