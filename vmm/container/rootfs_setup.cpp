#include "vmm/container/rootfs_setup.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/bind_mounts.hpp"

namespace berth::container {

namespace {

void do_mount(const char* source, const char* target, const char* type, unsigned long flags,
              const char* data = nullptr) {
    if (::mount(source, target, type, flags, data) != 0) {
        throw_errno(fmt::format("cannot mount {} on {}",
                                source ? source
                                : type ? type
                                       : "(none)",
                                target),
                    errno);
    }
}

void ensure_directory(const char* path, mode_t mode) {
    if (::mkdir(path, mode) != 0 && errno != EEXIST) {
        throw_errno(fmt::format("cannot create directory {} in the rootfs", path), errno);
    }
}

// Flags a remount must repeat: in a user namespace the kernel locks them and refuses a
// remount that would drop them.
unsigned long kept_flags(const char* path) {
    struct statvfs info {};
    if (::statvfs(path, &info) != 0) {
        throw_errno(fmt::format("cannot stat mount {}", path), errno);
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

void remount_read_only(const char* path) {
    do_mount(nullptr, path, nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | kept_flags(path));
}

struct Device {
    const char* name;
    unsigned major;
    unsigned minor;
};
constexpr Device devices[] = {
    {"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

// The umask for as long as it lives; 0 lets mknod give the nodes their mode in one
// call instead of a chmod after each.
class UmaskScope {
public:
    explicit UmaskScope(mode_t mask) : saved_(::umask(mask)) {}
    ~UmaskScope() { ::umask(saved_); }
    UmaskScope(const UmaskScope&) = delete;
    UmaskScope& operator=(const UmaskScope&) = delete;

private:
    mode_t saved_;
};

void populate_dev(DeviceMode mode) {
    const UmaskScope exact_modes(0);
    for (const auto& device : devices) {
        const std::string path = fmt::format("dev/{}", device.name);
        if (mode == DeviceMode::create_nodes) {
            if (::mknod(path.c_str(), S_IFCHR | 0666, makedev(device.major, device.minor)) != 0) {
                throw_errno(fmt::format("cannot create /{}", path), errno);
            }
        } else {
            UniqueFd placeholder(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0666));
            if (!placeholder) {
                throw_errno(fmt::format("cannot create /{}", path), errno);
            }
            const std::string host = fmt::format("/dev/{}", device.name);
            do_mount(host.c_str(), path.c_str(), nullptr, MS_BIND);
        }
    }
    ensure_directory("dev/pts", 0755);
    // A private devpts instance: the container sees only its own ptys.
    const char* pts_options = mode == DeviceMode::create_nodes
                                  ? "newinstance,ptmxmode=0666,mode=0620,gid=5"
                                  : "newinstance,ptmxmode=0666,mode=0620";
    do_mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, pts_options);
    ensure_directory("dev/shm", 01777);
    do_mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
    const std::pair<const char*, const char*> links[] = {
        {"pts/ptmx", "dev/ptmx"},          {"/proc/self/fd", "dev/fd"},
        {"/proc/self/fd/0", "dev/stdin"},  {"/proc/self/fd/1", "dev/stdout"},
        {"/proc/self/fd/2", "dev/stderr"},
    };
    for (const auto& [target, link] : links) {
        if (::symlink(target, link) != 0) {
            throw_errno(fmt::format("cannot create /{}", link), errno);
        }
    }
}

// Paths runc hides: kernel memory, keys, timers and firmware tables tell a container
// about the host or let it poke at hardware.
constexpr const char* masked_proc_paths[] = {
    "/proc/acpi",        "/proc/asound",        "/proc/kcore",
    "/proc/keys",        "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug",   "/proc/scsi",
};
constexpr const char* masked_sys_paths[] = {
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
};
constexpr const char* read_only_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

// Hides a directory under an empty read-only tmpfs, a file under /dev/null. No stat
// first: the mount itself says ENOENT (not on this kernel: nothing to hide), or ENOTDIR
// for a file, which then gets /dev/null.
void mask_path(const char* path) {
    if (::mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") ==
            0 ||
        errno == ENOENT) {
        return;
    }
    if (errno != ENOTDIR) {
        throw_errno(fmt::format("cannot mount tmpfs on {}", path), errno);
    }
    do_mount("/dev/null", path, nullptr, MS_BIND);
}

void make_read_only(const char* path) {
    if (::mount(path, path, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
        if (errno == ENOENT) {
            return;  // not on this kernel
        }
        throw_errno(fmt::format("cannot mount {} on {}", path, path), errno);
    }
    remount_read_only(path);
}

}  // namespace

void pivot_into_current_directory(const std::string& shown_as) {
    // pivot_root(".", "."): the old root ends up stacked on "." and is detached at once.
    if (::syscall(SYS_pivot_root, ".", ".") != 0) {
        throw_errno(fmt::format("cannot pivot_root into {}", shown_as), errno);
    }
    if (::umount2(".", MNT_DETACH) != 0) {
        throw_errno("cannot detach the old root", errno);
    }
    if (::chdir("/") != 0) {
        throw_errno("cannot enter the new root", errno);
    }
}

void setup_rootfs(const RootfsPlan& plan) {
    // Nothing we mount may leak back to the host, nor host mounts reach us.
    do_mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE);
    // pivot_root needs the new root to be a mount point.
    do_mount(plan.rootfs.c_str(), plan.rootfs.c_str(), nullptr, MS_BIND | MS_REC);
    if (::chdir(plan.rootfs.c_str()) != 0) {
        throw_errno(fmt::format("cannot enter rootfs {}", plan.rootfs), errno);
    }
    ensure_directory("proc", 0555);
    ensure_directory("sys", 0555);
    ensure_directory("dev", 0755);
    // Mounted here, after our pid namespace exists, /proc shows the container's processes.
    do_mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    if (plan.sysfs == SysfsMode::fresh) {
        do_mount("sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    } else if (plan.sysfs == SysfsMode::bind_host) {
        do_mount("/sys", "sys", nullptr, MS_BIND | MS_REC);
        remount_read_only("sys");
    }
    do_mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
    populate_dev(plan.devices);
    if (!plan.binds.empty()) {
        const UniqueFd root(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!root) {
            throw_errno("cannot open the rootfs", errno);
        }
        bind_mounts(root.get(), plan.binds);
    }

    pivot_into_current_directory(plan.rootfs);
    for (const char* path : masked_proc_paths) {
        mask_path(path);
    }
    for (const char* path : read_only_paths) {
        if (plan.sysctls.empty() || std::string_view(path) != "/proc/sys") {
            make_read_only(path);
        }
    }
}

void write_sysctls(const RootfsPlan& plan) {
    if (plan.sysctls.empty()) {
        return;
    }
    for (const auto& [key, value] : plan.sysctls) {
        const std::string path = "/proc/sys/" + key;
        UniqueFd file(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
        if (!file ||
            ::write(file.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
            throw_errno(fmt::format("cannot set linux.sysctl {} to {}", path, quote(value)), errno);
        }
    }
    make_read_only("/proc/sys");
}

void finish_rootfs(const RootfsPlan& plan) {
    if (plan.sysfs == SysfsMode::after_netns) {
        do_mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    }
    for (const char* path : masked_sys_paths) {
        mask_path(path);
    }
    if (plan.root_mode == RootMode::read_only) {
        remount_read_only("/");
    }
}

}  // namespace berth::container
