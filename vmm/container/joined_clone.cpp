#include "vmm/container/joined_clone.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::container {

namespace {

// Steps of the helper that are not a join, in HelperReport::failed_join.
constexpr int new_time_failed = -2;
constexpr int time_offsets_failed = -3;

// What the helper tells berth: init's pid, or which join (or step; the clone: -1) failed.
struct HelperReport {
    pid_t pid = -1;
    int failed_join = -1;
    int err = 0;
};

// The new time namespace for the helper's children, with its offsets; an errno or 0.
std::pair<int, int> make_time_namespace(const NewTimeNamespace& time) {
    if (::unshare(CLONE_NEWTIME) != 0) {
        return {new_time_failed, errno};
    }
    if (time.offsets.empty()) {
        return {-1, 0};
    }
    const UniqueFd file(::open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC));
    // All clocks in one write: the kernel takes them together or not at all.
    if (!file || ::write(file.get(), time.offsets.data(), time.offsets.size()) !=
                     static_cast<ssize_t>(time.offsets.size())) {
        return {time_offsets_failed, errno};
    }
    return {-1, 0};
}

const char* type_name(int type) {
    switch (type) {
        case CLONE_NEWUSER:
            return "user";
        case CLONE_NEWNS:
            return "mount";
        case CLONE_NEWPID:
            return "pid";
        case CLONE_NEWTIME:
            return "time";
        default:
            return "?";
    }
}

[[noreturn]] void report(int fd, const HelperReport& message) {
    // A short write leaves berth with less than a report, which it says.
    [[maybe_unused]] const ssize_t written = ::write(fd, &message, sizeof message);
    ::_exit(0);
}

}  // namespace

pid_t clone_into_joined(std::uint64_t flags, const std::vector<NamespaceToJoin>& joins,
                        const std::optional<NewTimeNamespace>& new_time) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) {
        throw_errno("cannot create a pipe", errno);
    }
    UniqueFd from_helper(ends[0]);
    UniqueFd to_berth(ends[1]);
    const pid_t helper = ::fork();
    if (helper < 0) {
        throw_errno("cannot fork to join the config's namespaces", errno);
    }
    if (helper == 0) {
        from_helper.reset();
        for (std::size_t i = 0; i < joins.size(); ++i) {
            if (::setns(joins[i].fd, joins[i].type) != 0) {
                report(to_berth.get(), {-1, static_cast<int>(i), errno});
            }
        }
        if (new_time) {
            const auto [step, err] = make_time_namespace(*new_time);
            if (err != 0) {
                report(to_berth.get(), {-1, step, err});
            }
        }
        clone_args args{};
        // The parent's parent (berth) becomes init's; init's end signal is then the
        // helper's own, SIGCHLD (fork's).
        args.flags = flags | CLONE_PARENT;
        const auto pid = static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
        if (pid == 0) {
            to_berth.reset();
            return 0;
        }
        report(to_berth.get(), {pid, -1, pid < 0 ? errno : 0});
    }
    to_berth.reset();
    HelperReport got;
    ssize_t read_bytes;
    do {
        read_bytes = ::read(from_helper.get(), &got, sizeof got);
    } while (read_bytes < 0 && errno == EINTR);
    while (::waitpid(helper, nullptr, 0) < 0 && errno == EINTR) {
    }
    if (read_bytes != static_cast<ssize_t>(sizeof got)) {
        throw Error("the helper that joins the config's namespaces ended without a word");
    }
    if (got.failed_join == new_time_failed) {
        throw_errno("cannot create a time namespace", got.err);
    }
    if (got.failed_join == time_offsets_failed) {
        // "monotonic -5 0\nboottime 3 0\n" -> "monotonic -5 0, boottime 3 0"
        std::string offsets = new_time->offsets;
        offsets.pop_back();
        for (std::size_t at; (at = offsets.find('\n')) != std::string::npos;) {
            offsets.replace(at, 1, ", ");
        }
        if (got.err == ERANGE || got.err == EINVAL) {
            // The kernel checks that each clock stays at or above zero once shifted: an
            // offset more negative than the time since boot fails.
            throw bad_input(fmt::format(
                "linux.timeOffsets: the kernel refuses {}: {} (a negative offset must be "
                "smaller than the time since boot)",
                quote(offsets), std::strerror(got.err)));
        }
        throw_errno(
            fmt::format("cannot write the time offsets {} to timens_offsets", quote(offsets)),
            got.err);
    }
    if (got.failed_join >= 0) {
        const NamespaceToJoin& join = joins[static_cast<std::size_t>(got.failed_join)];
        throw_errno(
            fmt::format("cannot join the {} namespace {}", type_name(join.type), quote(join.path)),
            got.err);
    }
    if (got.pid < 0) {
        throw_errno("cannot create the container's namespaces (clone3)", got.err);
    }
    return got.pid;
}

}  // namespace berth::container
