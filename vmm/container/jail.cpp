#include "vmm/container/jail.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/process.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/container_cgroup.hpp"
#include "vmm/container/rootfs_setup.hpp"
#include "vmm/container/security.hpp"
#include "vmm/container/supervised_signals.hpp"
#include "vmm/container/supervisor.hpp"
#include "vmm/container/user_namespace.hpp"

namespace berth::container {

namespace {

constexpr const char* socket_directory = "/run/api";

// Whether `c` can continue a path, so that "/disk" is not replaced inside "/disk.img".
bool path_character(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("._-+/", c) != nullptr;
}

// A DIR berth created (it did not exist): removed, empty as the jail leaves it, when
// the run ends.
class CreatedDirectory {
public:
    explicit CreatedDirectory(const std::string& path) : path_(path) {
        if (::mkdir(path_.c_str(), 0700) != 0) {
            throw_errno(fmt::format("cannot create the jail directory {}", quote(path_)), errno);
        }
    }
    ~CreatedDirectory() { ::rmdir(path_.c_str()); }
    CreatedDirectory(const CreatedDirectory&) = delete;
    CreatedDirectory& operator=(const CreatedDirectory&) = delete;

private:
    std::string path_;
};

void do_mount(const char* source, const char* target, const char* type, unsigned long flags,
              const char* data = nullptr) {
    if (::mount(source, target, type, flags, data) != 0) {
        throw_errno(fmt::format("cannot mount {} on {}", source ? source : "(none)", target),
                    errno);
    }
}

// In the child, in its new mount namespace: an empty tmpfs over DIR with the binds,
// made read-only, then the root.
void enter(const std::string& directory, const std::vector<Mount>& binds) {
    do_mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE);
    do_mount("berth-jail", directory.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
             "mode=0755,size=64k");
    if (::chdir(directory.c_str()) != 0) {
        throw_errno(fmt::format("cannot enter {}", quote(directory)), errno);
    }
    const UniqueFd root(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) {
        throw_errno("cannot open the jail's root", errno);
    }
    apply_mounts(root.get(), binds);
    // Nothing the VMM does may add to its root (a bound directory stays writable).
    do_mount(nullptr, ".", nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    pivot_into_current_directory(directory);
}

// The VMM is its pid namespace's init, which the kernel gives no default signal action:
// a SIGTERM berth passes on would be dropped. A VMM that stops gracefully on a signal
// (a Linux guest's machine reads SIGINT, SIGTERM and SIGHUP from a signalfd) blocks it
// and never gets here; for the others the signal ends the VMM, with the status of a
// process the signal killed.
void end_by_signal(int signal) {
    ::_exit(128 + signal);
}

void end_on_forwarded_signals() {
    struct sigaction action {};
    action.sa_handler = end_by_signal;
    for (const int signal : forwarded_signals) {
        if (::sigaction(signal, &action, nullptr) != 0) {
            throw_errno("cannot set the VMM's signal handlers", errno);
        }
    }
}

}  // namespace

Jail Jail::plan(const std::string& dir, const std::string& flag) {
    Jail jail;
    std::error_code error;
    const auto absolute = std::filesystem::absolute(dir, error);
    struct stat info {};
    if (::stat(dir.c_str(), &info) == 0) {
        if (!S_ISDIR(info.st_mode)) {
            throw bad_input(
                fmt::format("{} {}: not a directory; give an empty directory for the "
                            "VMM's root, or a path berth may create",
                            flag, quote(dir)));
        }
        jail.directory_ = std::filesystem::canonical(absolute).string();
    } else if (errno == ENOENT) {
        const auto parent = absolute.parent_path();
        if (::stat(parent.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
            throw bad_input(
                fmt::format("{} {}: its parent directory {} does not exist; create "
                            "it first",
                            flag, quote(dir), quote(parent.string())));
        }
        jail.directory_ = (std::filesystem::canonical(parent) / absolute.filename()).string();
        jail.create_directory_ = true;
    } else {
        throw_errno(fmt::format("{} {}", flag, quote(dir)), errno);
    }
    if (jail.directory_ == "/") {
        throw bad_input(
            fmt::format("{} {}: the host's root cannot be the jail; give a directory "
                        "of its own",
                        flag, quote(dir)));
    }
    return jail;
}

std::string Jail::jail_name(const std::filesystem::path& path) {
    const std::string base = path.filename().string();
    // /dev, /etc and /run hold the devices, resolv.conf and the API socket.
    std::string name = "/" + base;
    for (unsigned n = 2; name == "/dev" || name == "/etc" || name == "/run" ||
                         std::any_of(binds_.begin(), binds_.end(),
                                     [&](const Mount& bind) { return bind.destination == name; });
         ++n) {
        name = fmt::format("/{}-{}", n, base);
    }
    return name;
}

std::filesystem::path Jail::add_file(const std::filesystem::path& path, bool writable,
                                     const std::string& what) {
    const std::string shown = fmt::format("{} {}", what, quote(path.string()));
    if (::access(path.c_str(), writable ? R_OK | W_OK : R_OK) != 0) {
        const int err = errno;
        throw bad_input(fmt::format("{}: cannot {} it: {} (errno {}); give the path of a {} file",
                                    shown, writable ? "read and write" : "read", std::strerror(err),
                                    err, writable ? "writable" : "readable"));
    }
    std::error_code error;
    const auto resolved = std::filesystem::canonical(path, error);
    if (error || (!std::filesystem::is_regular_file(resolved) &&
                  !std::filesystem::is_block_file(resolved))) {
        throw bad_input(
            fmt::format("{}: not a file or block device; the jail binds files only", shown));
    }
    if (resolved.string().starts_with(directory_ + "/")) {
        throw bad_input(
            fmt::format("{}: it lies inside the jail directory {}, which the jail "
                        "covers; keep it elsewhere",
                        shown, quote(directory_)));
    }
    // The same file for two uses (an image as --image and its boot disk) is bound once.
    for (const auto& bind : binds_) {
        if (bind.source == resolved.string()) {
            if (writable && (bind.flags & MS_RDONLY) != 0) {
                break;  // bound read-only already: this use needs its own binding
            }
            return bind.destination;
        }
    }
    const std::string name = jail_name(resolved);
    binds_.push_back(
        bind_mount(resolved.string(), name,
                   static_cast<unsigned long>(MS_NOSUID | MS_NOEXEC | (writable ? 0 : MS_RDONLY))));
    spellings_.emplace_back(name, path.string());
    return name;
}

void Jail::add_device(const std::string& path) {
    binds_.push_back(bind_mount(path, path, MS_NOSUID | MS_NOEXEC));
}

void Jail::add_optional_file(const std::string& path) {
    if (::access(path.c_str(), R_OK) == 0) {
        binds_.push_back(bind_mount(path, path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC));
    }
}

std::filesystem::path Jail::add_socket(const std::filesystem::path& socket,
                                       const std::string& what) {
    const auto parent = std::filesystem::absolute(socket).parent_path();
    const std::string shown = fmt::format("{} {}", what, quote(socket.string()));
    if (::access(parent.c_str(), W_OK | X_OK) != 0) {
        const int err = errno;
        throw bad_input(fmt::format("{}: cannot create it in {}: {} (errno {})", shown,
                                    quote(parent.string()), std::strerror(err), err));
    }
    const auto resolved = std::filesystem::canonical(parent).string();
    if (resolved == directory_ || resolved.starts_with(directory_ + "/")) {
        throw bad_input(
            fmt::format("{}: it lies inside the jail directory {}, which the jail "
                        "covers; put it elsewhere",
                        shown, quote(directory_)));
    }
    binds_.push_back(bind_mount(resolved, socket_directory, MS_NOSUID | MS_NODEV | MS_NOEXEC));
    const std::string inside = std::string(socket_directory) + "/" + socket.filename().string();
    spellings_.emplace_back(inside, socket.string());
    return inside;
}

std::string Jail::user_spelling(std::string_view message) const {
    std::string text(message);
    // Longest first, so that "/2-disk.img" is not taken for "/disk.img".
    auto spellings = spellings_;
    std::sort(spellings.begin(), spellings.end(),
              [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    for (const auto& [inside, user] : spellings) {
        for (std::size_t at = 0; (at = text.find(inside, at)) != std::string::npos;) {
            const std::size_t end = at + inside.size();
            const bool whole = (at == 0 || !path_character(text[at - 1])) &&
                               (end == text.size() || !path_character(text[end]));
            if (whole) {
                text.replace(at, inside.size(), user);
                at += user.size();
            } else {
                at = end;
            }
        }
    }
    return text;
}

int Jail::run(const std::function<int()>& vmm) const {
    const bool rootless = ::geteuid() != 0;
    // Declared first to end last, though made just before the child: ending it unblocks
    // the supervised signals, and one that came after supervise() stopped reading takes
    // its default action there -- it must find the cgroup and directory gone already.
    std::optional<BlockedSignals> blocked;
    std::optional<CreatedDirectory> created;
    if (create_directory_) {
        created.emplace(directory_);
    }
    // Its own cgroup (as root: an unprivileged berth may not make one), made before the
    // child so that it moves itself in before any VMM thread exists; removed when this
    // block ends, after the child has been reaped.
    ContainerCgroup cgroup;
    CgroupDoors doors;
    if (!rootless) {
        CgroupLimits limits;
        limits.every_controller = true;
        // No limit of its own: what errors name is the flag that asked for the jail.
        limits.shown_as = {.name = "--jail",
                           .rootfs = "--jail",
                           .workdir = "--jail",
                           .user = "--jail",
                           .memory = "--jail",
                           .pids = "--jail",
                           .cpus = "--jail"};
        try {
            cgroup = ContainerCgroup::plan(fmt::format("vm-{}", ::getpid()), limits);
            cgroup.create();
            doors = cgroup.open_doors();
        } catch (const Error& e) {
            throw e.with_context("the jail's cgroup");
        }
    }
    // Rootless: the child waits until berth has written its user namespace's id maps.
    int mapped[2];
    if (::pipe2(mapped, O_CLOEXEC) != 0) {
        throw_errno("cannot create a pipe", errno);
    }
    UniqueFd mapped_read(mapped[0]);
    UniqueFd mapped_write(mapped[1]);

    std::uint64_t flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
    if (network_ == JailNetwork::none) {
        flags |= CLONE_NEWNET;
    }
    if (rootless) {
        flags |= CLONE_NEWUSER;
    }
    blocked.emplace();
    const pid_t pid = clone_container(flags);
    if (pid == 0) {
        try {
            mapped_write.reset();
            const sigset_t supervised = supervised_signals();
            ::sigprocmask(SIG_UNBLOCK, &supervised, nullptr);
            // The VMM must not outlive its supervisor.
            if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
                throw_errno("cannot tie the VMM to berth", errno);
            }
            char byte;
            if (::read(mapped_read.get(), &byte, 1) != 1) {
                ::_exit(1);  // berth failed and says why
            }
            mapped_read.reset();
            move_self_through(doors.entries);
            doors = {};
            // /proc/self/cgroup shows "/" inside: the host's cgroup tree stays unnamed.
            if (::unshare(CLONE_NEWCGROUP) != 0) {
                throw_errno("cannot create a cgroup namespace", errno);
            }
            enter(directory_, binds_);
            drop_all_capabilities();
            set_no_new_privileges();
            end_on_forwarded_signals();
        } catch (const Error& e) {
            std::fflush(stdout);
            std::fprintf(
                stderr, "berth: %s\n",
                one_line(e.with_context(fmt::format("cannot enter the jail {}", quote(directory_)))
                             .what())
                    .c_str());
            ::_exit(static_cast<int>(e.status()));
        } catch (const std::exception& e) {
            std::fprintf(stderr, "berth: cannot enter the jail: %s\n", e.what());
            ::_exit(static_cast<int>(ExitStatus::failure));
        }
        int status;
        try {
            status = vmm();
        } catch (const Error& e) {
            std::fflush(stdout);
            std::fprintf(stderr, "berth: %s\n", one_line(user_spelling(e.what())).c_str());
            status = static_cast<int>(e.status());
        } catch (const std::exception& e) {
            std::fprintf(stderr, "berth: internal error: %s\n", e.what());
            status = static_cast<int>(ExitStatus::failure);
        }
        std::fflush(nullptr);
        ::_exit(status);
    }
    ChildProcess child(pid);
    mapped_read.reset();
    if (rootless) {
        map_caller_to_root(pid);
    }
    if (::write(mapped_write.get(), "m", 1) != 1) {
        throw_errno("cannot start the jailed VMM", errno);
    }
    mapped_write.reset();
    return supervise(child, -1, false, nullptr, {});
}

}  // namespace berth::container
