#include "vmm/sandbox/thread_sandbox.hpp"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/thread.hpp"
#include "vmm/sandbox/thread_filters.hpp"

namespace berth::sandbox {

namespace {

// A line built without allocating: the SIGSYS handler may only call async-signal-safe code.
class SignalSafeLine {
public:
    void add(std::string_view text) {
        const std::size_t n = std::min(text.size(), sizeof buffer_ - length_);
        std::memcpy(buffer_ + length_, text.data(), n);
        length_ += n;
    }
    void add_number(unsigned long value) {
        char digits[24];
        std::size_t n = 0;
        do {
            digits[n++] = static_cast<char>('0' + value % 10);
            value /= 10;
        } while (value != 0);
        while (n > 0 && length_ < sizeof buffer_) {
            buffer_[length_++] = digits[--n];
        }
    }
    void write_to(int fd) const {
        std::size_t done = 0;
        while (done < length_) {
            const ssize_t n = ::write(fd, buffer_ + done, length_ - done);
            if (n <= 0) {
                return;
            }
            done += static_cast<std::size_t>(n);
        }
    }

private:
    char buffer_[256];
    std::size_t length_ = 0;
};

extern "C" void report_forbidden_syscall(int, siginfo_t* info, void*) {
    SignalSafeLine line;
    line.add("berth: seccomp: thread ");
    const std::string_view kind = this_thread_kind();
    line.add(kind.empty() ? std::string_view("(unnamed)") : kind);
    line.add(" made forbidden syscall ");
    const bool native = info->si_arch == AUDIT_ARCH_X86_64;
    const std::string_view name = native ? syscall_name(info->si_syscall) : std::string_view{};
    if (!native) {
        line.add("of another architecture, number");
    } else {
        line.add(name.empty() ? std::string_view("(unknown)") : name);
    }
    line.add(" (");
    line.add_number(static_cast<unsigned>(info->si_syscall));
    line.add("); rerun with --seccomp off and report it\n");
    line.write_to(STDERR_FILENO);
    ::_exit(forbidden_syscall_status);
}

// A thread start that cannot be confined must not run unconfined: one line, exit.
void fail_thread_start(std::string_view message) {
    const std::string line = fmt::format("berth: seccomp: {}; rerun with --seccomp off\n", message);
    [[maybe_unused]] const auto written = ::write(STDERR_FILENO, line.data(), line.size());
    ::_exit(1);
}

void confine_new_thread(std::string_view kind, std::string_view creator_kind) {
    if (creator_kind == kind) {
        return;  // it inherited this very list from its creator
    }
    if (!creator_kind.empty()) {
        fail_thread_start(fmt::format(
            "thread {} was started by thread {} and would run under both lists; start it "
            "before the filters (vmm/sandbox/thread_sandbox.hpp)",
            kind, creator_kind));
    }
    try {
        install_thread_filter(kind);
    } catch (const std::exception& e) {
        fail_thread_start(e.what());
    }
}

}  // namespace

void install_thread_filter(std::string_view kind) {
    for (const auto& filter : thread_filters()) {
        if (filter.kind != kind) {
            continue;
        }
        // Without CAP_SYS_ADMIN the kernel takes a filter only from a thread that can
        // gain no privileges (no setuid exec; berth's VM threads exec nothing anyway).
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
            throw_errno(fmt::format("cannot confine thread {}: PR_SET_NO_NEW_PRIVS", kind), errno);
        }
        sock_fprog program{static_cast<unsigned short>(filter.program.size()),
                           const_cast<sock_filter*>(filter.program.data())};
        // Flags 0, not SECCOMP_FILTER_FLAG_TSYNC: this thread only.
        if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) {
            throw_errno(fmt::format("cannot install the seccomp filter of thread {}", kind), errno);
        }
        set_this_thread_kind(filter.kind);  // static storage, as this_thread_kind wants
        return;
    }
    throw Error(fmt::format("no seccomp list for thread kind {}", kind));
}

void install_forbidden_syscall_reporter() {
    struct sigaction action {};
    action.sa_sigaction = report_forbidden_syscall;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (::sigaction(SIGSYS, &action, nullptr) != 0) {
        throw_errno("cannot set the SIGSYS handler", errno);
    }
}

VmmSandbox::VmmSandbox(Seccomp mode) : on_(mode == Seccomp::on) {
    if (on_) {
        // glibc's malloc sizes its arena limit the first time a thread needs a new
        // arena, by reading /sys/devices/system/cpu/online: an openat in whichever
        // confined thread that happens to be (it trapped the API's worker in the rig).
        // The same limit, set now, spares it.
        ::mallopt(M_ARENA_MAX, 8 * std::max(1, ::get_nprocs()));
        install_forbidden_syscall_reporter();
        set_thread_start_hook(confine_new_thread);
    }
}

VmmSandbox::~VmmSandbox() {
    if (on_) {
        set_thread_start_hook(nullptr);
    }
}

void VmmSandbox::confine_this_thread(std::string_view kind) const {
    if (on_) {
        install_thread_filter(kind);
    }
}

}  // namespace berth::sandbox
