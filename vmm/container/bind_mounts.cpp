#include "vmm/container/bind_mounts.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"

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

// The directories of `destination` ("a/b" of "/a/b/c"), made where missing; an O_PATH
// descriptor of the last.
UniqueFd make_parents(int root_fd, const std::string& destination) {
    std::string walked = ".";
    std::size_t start = 1;  // past the leading '/'
    for (std::size_t slash; (slash = destination.find('/', start)) != std::string::npos;
         start = slash + 1) {
        if (slash == start) {
            continue;  // "//"
        }
        walked += "/" + destination.substr(start, slash - start);
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
    return UniqueFd(open_in_root(root_fd, walked, O_PATH | O_DIRECTORY));
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
    const UniqueFd parent = make_parents(root_fd, destination);
    const std::string name = destination.substr(destination.rfind('/') + 1);
    if (!parent || name.empty()) {
        throw_errno("cannot open the mount point's directory", errno);
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

void bind_one(int root_fd, const BindMount& mount) {
    struct stat source {};
    if (::stat(mount.source.c_str(), &source) != 0) {
        throw_errno(fmt::format("source {}", quote(mount.source)), errno);
    }
    const UniqueFd target = mount_point(root_fd, mount.destination, S_ISDIR(source.st_mode));
    const std::string via = fmt::format("/proc/self/fd/{}", target.get());
    if (::mount(mount.source.c_str(), via.c_str(), nullptr,
                MS_BIND | (mount.recursive ? MS_REC : 0), nullptr) != 0) {
        throw_errno(fmt::format("cannot bind {}", quote(mount.source)), errno);
    }
    if (mount.flags != 0) {
        // The binding is a new mount at the same path: reopen it to remount it.
        const UniqueFd bound(open_in_root(root_fd, "." + mount.destination, O_PATH));
        const std::string bound_via = fmt::format("/proc/self/fd/{}", bound.get());
        if (!bound || ::mount(nullptr, bound_via.c_str(), nullptr,
                              MS_REMOUNT | MS_BIND | mount.flags, nullptr) != 0) {
            throw_errno("cannot apply the mount's options", errno);
        }
    }
}

}  // namespace

void bind_mounts(int root_fd, const std::vector<BindMount>& mounts) {
    for (const auto& mount : mounts) {
        try {
            bind_one(root_fd, mount);
        } catch (const Error& e) {
            throw e.with_context(fmt::format("mount {}", quote(mount.destination)));
        }
    }
}

}  // namespace berth::container
