#include "vmm/container/container_mounts.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth::container {

namespace {

// `path` (relative) under `root_fd`, every symlink resolved as if root_fd were "/".
int open_in_root(int root_fd, const std::string& path, int flags, mode_t mode = 0) {
    open_how how{};
    how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
    how.mode = flags & O_CREAT ? mode : 0;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    int fd;
    while ((fd = static_cast<int>(
                ::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how))) < 0 &&
           errno == EAGAIN) {
        // The kernel asks for a retry when a rename raced the walk.
    }
    return fd;
}

std::string via(const UniqueFd& fd) {
    return fmt::format("/proc/self/fd/{}", fd.get());
}

// The mount point: a directory for a directory, a file for anything else.
UniqueFd mount_point(int root_fd, const std::string& destination, bool directory) {
    const std::string relative = "." + destination;
    UniqueFd target(open_in_root(root_fd, relative, O_PATH));
    if (target) {
        return target;
    }
    if (errno != ENOENT) {
        throw_errno("cannot open the mount point", errno);
    }
    const UniqueFd parent = open_parent_in_root(root_fd, destination);
    const std::string name = destination.substr(destination.rfind('/') + 1);
    if (name.empty()) {
        throw_errno("cannot open the mount point's directory", ENOENT);
    }
    if (directory) {
        if (::mkdirat(parent.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
            throw_errno("cannot create the mount point", errno);
        }
    } else {
        // The parent was resolved inside the root; the new name is a plain entry in it.
        const UniqueFd file(::openat(parent.get(), name.c_str(),
                                     O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
        if (!file && errno != EEXIST) {
            throw_errno("cannot create the mount point", errno);
        }
    }
    target.reset(open_in_root(root_fd, relative, O_PATH));
    if (!target) {
        throw_errno("cannot open the mount point", errno);
    }
    return target;
}

// What is mounted at `destination` now (the mount just made on top).
UniqueFd reopen(int root_fd, const std::string& destination) {
    UniqueFd mounted(open_in_root(root_fd, "." + destination, O_PATH));
    if (!mounted) {
        throw_errno("cannot open the new mount", errno);
    }
    return mounted;
}

constexpr unsigned long atime_flags = MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME;

void set_propagation(const UniqueFd& mounted, unsigned long propagation) {
    if (propagation != 0 &&
        ::mount(nullptr, via(mounted).c_str(), nullptr, propagation, nullptr) != 0) {
        throw_errno("cannot set the mount's propagation", errno);
    }
}

void bind_one(int root_fd, const Mount& mount) {
    struct stat source {};
    if (::stat(mount.source.c_str(), &source) != 0) {
        throw_errno(fmt::format("source {}", quote(mount.source)), errno);
    }
    const UniqueFd target = mount_point(root_fd, mount.destination, S_ISDIR(source.st_mode));
    if (::mount(mount.source.c_str(), via(target).c_str(), nullptr,
                MS_BIND | (mount.recursive ? MS_REC : 0), nullptr) != 0) {
        throw_errno(fmt::format("cannot bind {}", quote(mount.source)), errno);
    }
    const UniqueFd bound = reopen(root_fd, mount.destination);
    if (mount.flags != 0 || mount.cleared != 0) {
        // The kernel ignores a bind's flags: a second mount, a remount of the binding,
        // sets them. It replaces all of them, so the bound mount's own stay (in a user
        // namespace the kernel refuses to drop them) unless an option clears them.
        unsigned long kept = mount_flags_of(bound.get()) & ~mount.cleared;
        if ((mount.flags & atime_flags) != 0) {
            kept &= ~atime_flags;
        }
        if (::mount(nullptr, via(bound).c_str(), nullptr, MS_REMOUNT | MS_BIND | mount.flags | kept,
                    nullptr) != 0) {
            throw_errno("cannot apply the mount's options", errno);
        }
    }
    set_propagation(bound, mount.propagation);
}

void do_mount(const std::string& source, const UniqueFd& at, const std::string& type,
              unsigned long flags, const std::string& data) {
    if (::mount(source.c_str(), via(at).c_str(), type.c_str(), flags,
                data.empty() ? nullptr : data.c_str()) != 0) {
        throw_errno(fmt::format("cannot mount {}", type), errno);
    }
}

// A v1 or hybrid host's cgroup mount, as its /sys/fs/cgroup is: a tmpfs with a
// directory per hierarchy, each mounted there (in the container's cgroup namespace, so
// each shows the container's cgroup as its root), the tmpfs made read-only last.
void mount_cgroup_hierarchies(int root_fd, const Mount& mount, const UniqueFd& target) {
    const unsigned long flags = mount.flags & ~MS_RDONLY;
    do_mount("cgroup", target, "tmpfs", flags, "mode=755");
    const UniqueFd tmpfs = reopen(root_fd, mount.destination);
    for (const auto& hierarchy : mount.hierarchies) {
        if (::mkdirat(tmpfs.get(), hierarchy.name.c_str(), 0555) != 0) {
            throw_errno(fmt::format("cannot create directory {}", quote(hierarchy.name)), errno);
        }
        const UniqueFd dir(
            open_in_root(root_fd, mount.destination + "/" + hierarchy.name, O_PATH | O_DIRECTORY));
        if (!dir) {
            throw_errno(fmt::format("cannot open directory {}", quote(hierarchy.name)), errno);
        }
        try {
            do_mount(hierarchy.type, dir, hierarchy.type, mount.flags, hierarchy.options);
        } catch (const Error& e) {
            throw e.with_context(fmt::format("hierarchy {}", quote(hierarchy.name)));
        }
    }
    if ((mount.flags & MS_RDONLY) != 0 &&
        ::mount(nullptr, via(tmpfs).c_str(), nullptr, MS_REMOUNT | mount.flags, nullptr) != 0) {
        throw_errno("cannot make the cgroup tmpfs read-only", errno);
    }
}

// Copies the tree in the directory `from` into the directory `to`: directories, files,
// symlinks and other nodes, with their modes and owners. Every name is opened relative
// to its directory without following symlinks, so nothing outside `from` is read.
void copy_tree(int from, int to) {
    const int listing = ::dup(from);
    DIR* dir = listing < 0 ? nullptr : ::fdopendir(listing);
    if (dir == nullptr) {
        if (listing >= 0) {
            ::close(listing);
        }
        throw_errno("cannot list the directory", errno);
    }
    const std::unique_ptr<DIR, int (*)(DIR*)> closing(dir, ::closedir);
    ::rewinddir(dir);
    while (const dirent* entry = ::readdir(dir)) {
        const std::string name = entry->d_name;
        if (name == "." || name == "..") {
            continue;
        }
        struct stat st {};
        if (::fstatat(from, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            throw_errno(fmt::format("cannot stat {}", quote(name)), errno);
        }
        bool made = true;
        if (S_ISDIR(st.st_mode)) {
            made = ::mkdirat(to, name.c_str(), 0700) == 0;
            if (made) {
                const UniqueFd in(
                    ::openat(from, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
                const UniqueFd out(
                    ::openat(to, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
                if (!in || !out) {
                    throw_errno(fmt::format("cannot open directory {}", quote(name)), errno);
                }
                try {
                    copy_tree(in.get(), out.get());
                } catch (const Error& e) {
                    throw e.with_context(quote(name));
                }
            }
        } else if (S_ISREG(st.st_mode)) {
            const UniqueFd in(::openat(from, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
            const UniqueFd out(::openat(
                to, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
            made = in && out;
            char buffer[64 * 1024];
            ssize_t got = 0;
            while (made && (got = ::read(in.get(), buffer, sizeof buffer)) > 0) {
                made = ::write(out.get(), buffer, static_cast<std::size_t>(got)) == got;
            }
            made = made && got == 0;
        } else if (S_ISLNK(st.st_mode)) {
            std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
            const ssize_t length = ::readlinkat(from, name.c_str(), target.data(), target.size());
            made = length >= 0 && static_cast<std::size_t>(length) < target.size();
            if (made) {
                target.resize(static_cast<std::size_t>(length));
                made = ::symlinkat(target.c_str(), to, name.c_str()) == 0;
            }
        } else if (!S_ISSOCK(st.st_mode)) {
            made = ::mknodat(to, name.c_str(), st.st_mode, st.st_rdev) == 0;
        } else {
            continue;  // a socket belongs to a listening process, it is no file to copy
        }
        if (!made || ::fchownat(to, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0 ||
            (!S_ISLNK(st.st_mode) && ::fchmodat(to, name.c_str(), st.st_mode & 07777, 0) != 0)) {
            throw_errno(fmt::format("cannot copy {}", quote(name)), errno);
        }
    }
}

void mount_one(int root_fd, const Mount& mount) {
    if (mount.type.empty()) {
        bind_one(root_fd, mount);
        return;
    }
    const UniqueFd target = mount_point(root_fd, mount.destination, true);
    if (mount.type == "cgroup") {
        mount_cgroup_hierarchies(root_fd, mount, target);
    } else {
        // tmpcopyup: the directory as it is before the tmpfs hides it.
        const UniqueFd below(
            mount.copy_up ? open_in_root(root_fd, "." + mount.destination, O_RDONLY | O_DIRECTORY)
                          : -1);
        if (mount.copy_up && !below) {
            throw_errno("cannot open the mount point to copy it up", errno);
        }
        do_mount(mount.source.empty() ? mount.type : mount.source, target, mount.type, mount.flags,
                 mount.data);
        if (mount.copy_up) {
            const UniqueFd tmpfs(
                open_in_root(root_fd, "." + mount.destination, O_RDONLY | O_DIRECTORY));
            try {
                if (!tmpfs) {
                    throw_errno("cannot open the new tmpfs", errno);
                }
                copy_tree(below.get(), tmpfs.get());
            } catch (const Error& e) {
                throw e.with_context("tmpcopyup");
            }
        }
    }
    if (mount.propagation != 0) {
        set_propagation(reopen(root_fd, mount.destination), mount.propagation);
    }
}

}  // namespace

Mount bind_mount(std::string source, std::string destination, unsigned long flags) {
    Mount mount;
    mount.source = std::move(source);
    mount.destination = std::move(destination);
    mount.flags = flags;
    return mount;
}

Mount filesystem_mount(std::string type, std::string source, std::string destination,
                       unsigned long flags, std::string data) {
    Mount mount = bind_mount(std::move(source), std::move(destination), flags);
    mount.type = std::move(type);
    mount.data = std::move(data);
    return mount;
}

unsigned long mount_flags_of(int fd) {
    struct statvfs info {};
    if (::fstatvfs(fd, &info) != 0) {
        throw_errno("cannot stat the mount", errno);
    }
    unsigned long flags = 0;
    const std::pair<unsigned long, unsigned long> map[] = {
        {ST_NOSUID, MS_NOSUID},   {ST_NODEV, MS_NODEV},           {ST_NOEXEC, MS_NOEXEC},
        {ST_NOATIME, MS_NOATIME}, {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME},
    };
    for (const auto& [st, ms] : map) {
        if (info.f_flag & st) {
            flags |= ms;
        }
    }
    return flags;
}

UniqueFd open_parent_in_root(int root_fd, const std::string& path) {
    std::string walked = ".";
    std::size_t start = 1;  // past the leading '/'
    for (std::size_t slash; (slash = path.find('/', start)) != std::string::npos;
         start = slash + 1) {
        if (slash == start) {
            continue;  // "//"
        }
        walked += "/" + path.substr(start, slash - start);
        UniqueFd dir(open_in_root(root_fd, walked, O_PATH | O_DIRECTORY));
        if (!dir && errno == ENOENT) {
            const auto last = walked.rfind('/');
            const UniqueFd parent(
                open_in_root(root_fd, walked.substr(0, last), O_PATH | O_DIRECTORY));
            if (!parent || (::mkdirat(parent.get(), walked.c_str() + last + 1, 0755) != 0 &&
                            errno != EEXIST)) {
                throw_errno(fmt::format("cannot create directory {}", quote(walked.substr(1))),
                            errno);
            }
            dir.reset(open_in_root(root_fd, walked, O_PATH | O_DIRECTORY));
        }
        if (!dir) {
            throw_errno(fmt::format("cannot open directory {}", quote(walked.substr(1))), errno);
        }
    }
    UniqueFd parent(open_in_root(root_fd, walked, O_PATH | O_DIRECTORY));
    if (!parent) {
        throw_errno(fmt::format("cannot open directory {}", quote(walked.substr(1))), errno);
    }
    return parent;
}

void apply_mounts(int root_fd, const std::vector<Mount>& mounts) {
    for (const auto& mount : mounts) {
        try {
            mount_one(root_fd, mount);
        } catch (const Error& e) {
            const std::string what = fmt::format("mount {}", quote(mount.destination));
            throw e.with_context(
                mount.shown_as.empty() ? what : fmt::format("{}: {}", mount.shown_as, what));
        }
    }
}

}  // namespace berth::container
