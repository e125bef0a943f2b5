#include "vmm/container/rootfs_setup.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <span>
#include <string_view>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/container_mounts.hpp"

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

// A bind remount replaces all of a mount's flags; the ones it has stay (in a user
// namespace the kernel refuses to drop them).
void remount_read_only(const char* path) {
    const UniqueFd mounted(::open(path, O_PATH | O_CLOEXEC));
    if (!mounted) {
        throw_errno(fmt::format("cannot open {}", path), errno);
    }
    do_mount(nullptr, path, nullptr,
             MS_REMOUNT | MS_BIND | MS_RDONLY | mount_flags_of(mounted.get()));
}

constexpr unsigned long proc_flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
constexpr unsigned long sysfs_flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;

// berth's own mounts, for the destinations the config leaves out (all of them for ct run).
std::vector<Mount> own_mounts(DeviceMode mode) {
    // A private devpts instance: the container sees only its own ptys. Group 5 (tty) is
    // not mapped in a user namespace.
    std::string pts_options = "newinstance,ptmxmode=0666,mode=0620";
    if (mode == DeviceMode::create_nodes) {
        pts_options += ",gid=5";
    }
    return {
        filesystem_mount("proc", "proc", "/proc", proc_flags),
        filesystem_mount("sysfs", "sysfs", "/sys", sysfs_flags),
        filesystem_mount("tmpfs", "tmpfs", "/dev", MS_NOSUID | MS_STRICTATIME,
                         "mode=755,size=65536k"),
        filesystem_mount("devpts", "devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC, pts_options),
        filesystem_mount("tmpfs", "shm", "/dev/shm", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                         "mode=1777,size=65536k"),
    };
}

// `path` is `dir` or below it.
bool is_below(std::string_view path, std::string_view dir) {
    if (dir == "/") {
        return true;
    }
    return path.starts_with(dir) && (path.size() == dir.size() || path[dir.size()] == '/');
}

// The config's mounts with berth's own added where the config has none at that
// destination: each goes before the first of the config's that is below it (so that
// /dev does not hide the config's /dev/mqueue), after any that it is below.
std::vector<Mount> all_mounts(const RootfsPlan& plan) {
    std::vector<Mount> mounts = plan.mounts;
    for (Mount& own : own_mounts(plan.devices)) {
        std::size_t at = mounts.size();
        bool given = false;
        for (std::size_t i = 0; i < mounts.size(); ++i) {
            given = given || mounts[i].destination == own.destination;
            if (at == mounts.size() && is_below(mounts[i].destination, own.destination)) {
                at = i;
            }
        }
        for (std::size_t i = 0; i < mounts.size(); ++i) {
            if (is_below(own.destination, mounts[i].destination) && i >= at) {
                at = i + 1;
            }
        }
        if (!given) {
            mounts.insert(mounts.begin() + static_cast<std::ptrdiff_t>(at), std::move(own));
        }
    }
    return mounts;
}

// Paths runc hides: kernel memory, keys, timers and firmware tables tell a container
// about the host or let it poke at hardware.
constexpr const char* default_masked_paths[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
};
constexpr const char* default_read_only_paths[] = {
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

bool holds(const std::vector<std::string>& list, std::string_view path) {
    return std::find(list.begin(), list.end(), path) != list.end();
}

// The masks and read-only paths of one step, after its mounts (and after the pivot:
// they resolve inside the container).
void hide_paths(const RootfsPlan& plan, const MountSchedule& schedule, MountSchedule::Step step) {
    for (const auto& path : schedule.masked[step]) {
        mask_path(path.c_str());
    }
    for (const auto& path : schedule.read_only[step]) {
        // With sysctls to write, /proc/sys stays writable until they are (write_sysctls).
        if (plan.sysctls.empty() || path != "/proc/sys") {
            make_read_only(path.c_str());
        }
    }
}

// The mounts of one step, under the root at `root_path` ("." before the pivot).
void mount_step(const MountSchedule& schedule, MountSchedule::Step step, const char* root_path) {
    if (schedule.mounts[step].empty()) {
        return;
    }
    const UniqueFd root(::open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) {
        throw_errno("cannot open the rootfs", errno);
    }
    apply_mounts(root.get(), schedule.mounts[step]);
}

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

struct OwnDevice {
    const char* name;
    unsigned major;
    unsigned minor;
};
constexpr OwnDevice own_devices[] = {
    {"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

// One node at `name` in the directory `parent`: made, or in a user namespace (where
// mknod of a device is refused) the host's node at `host_path` bound onto a file.
void make_node(int parent, const std::string& name, mode_t mode, dev_t device, DeviceMode how,
               const std::string& host_path) {
    if (how == DeviceMode::create_nodes || S_ISFIFO(mode)) {
        if (::mknodat(parent, name.c_str(), mode, device) != 0) {
            throw_errno("cannot create it", errno);
        }
        return;
    }
    UniqueFd placeholder(
        ::openat(parent, name.c_str(), O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode & 07777));
    if (!placeholder) {
        throw_errno("cannot create it", errno);
    }
    placeholder.reset(::openat(parent, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    const std::string onto = fmt::format("/proc/self/fd/{}", placeholder.get());
    if (::mount(host_path.c_str(), onto.c_str(), nullptr, MS_BIND, nullptr) != 0) {
        throw_errno(fmt::format("cannot bind the host's {}", host_path), errno);
    }
}

// /dev's nodes and links (after the mounts: into the /dev tmpfs), then linux.devices.
void populate_dev(const RootfsPlan& plan) {
    const UmaskScope exact_modes(0);
    const UniqueFd dev(::open("dev", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dev) {
        throw_errno("cannot open /dev", errno);
    }
    for (const auto& device : own_devices) {
        struct stat there {};
        if (::fstatat(dev.get(), device.name, &there, AT_SYMLINK_NOFOLLOW) == 0) {
            continue;  // the config's /dev has it already
        }
        try {
            make_node(dev.get(), device.name, S_IFCHR | 0666, makedev(device.major, device.minor),
                      plan.devices, fmt::format("/dev/{}", device.name));
        } catch (const Error& e) {
            throw e.with_context(fmt::format("/dev/{}", device.name));
        }
    }
    const std::pair<const char*, const char*> links[] = {
        {"pts/ptmx", "ptmx"},          {"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"},
        {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
    };
    for (const auto& [target, link] : links) {
        if (::symlinkat(target, dev.get(), link) != 0 && errno != EEXIST) {
            throw_errno(fmt::format("cannot create /dev/{}", link), errno);
        }
    }
    if (plan.device_nodes.empty()) {
        return;
    }
    const UniqueFd root(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    for (const auto& node : plan.device_nodes) {
        try {
            const UniqueFd parent = open_parent_in_root(root.get(), node.path);
            const std::string name = node.path.substr(node.path.rfind('/') + 1);
            // The config's node replaces one of berth's at the same path.
            if (::unlinkat(parent.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
                throw_errno("cannot replace what is there", errno);
            }
            make_node(parent.get(), name, node.mode, makedev(node.major, node.minor), plan.devices,
                      node.path);
            if (plan.devices == DeviceMode::create_nodes &&
                ::fchownat(parent.get(), name.c_str(), node.uid, node.gid, AT_SYMLINK_NOFOLLOW) !=
                    0) {
                throw_errno(fmt::format("cannot give it owner {}:{}", node.uid, node.gid), errno);
            }
        } catch (const Error& e) {
            throw e.with_context(fmt::format("{} {}", node.shown_as, quote(node.path)));
        }
    }
}

// linux.rootfsPropagation "shared"/"rshared": pivot_root refuses a shared parent of the
// new root (and a shared current root), so the mount the rootfs is in is made private
// for the pivot; the new root is made shared after it.
void make_rootfs_parent_private(const std::string& rootfs) {
    std::ifstream file("/proc/self/mountinfo");
    const std::string mountinfo{std::istreambuf_iterator<char>(file), {}};
    std::string parent = "/";
    std::size_t start = 0;
    while (start < mountinfo.size()) {
        const std::size_t end = std::min(mountinfo.find('\n', start), mountinfo.size());
        const std::string_view line(mountinfo.data() + start, end - start);
        start = end + 1;
        // id parent major:minor root mount-point ...
        std::size_t field = 0;
        std::size_t at = 0;
        for (; field < 4 && at != std::string_view::npos; ++field) {
            at = line.find(' ', at);
            at = at == std::string_view::npos ? at : at + 1;
        }
        if (at == std::string_view::npos) {
            continue;
        }
        const std::string_view point = line.substr(at, line.find(' ', at) - at);
        if (point != rootfs && is_below(rootfs, point) && point.size() > parent.size()) {
            parent = std::string(point);
        }
    }
    do_mount(nullptr, parent.c_str(), nullptr, MS_PRIVATE);
    if (parent != "/") {
        do_mount(nullptr, "/", nullptr, MS_PRIVATE);
    }
}

}  // namespace

MountSchedule schedule_mounts(const RootfsPlan& plan) {
    MountSchedule schedule;
    // Where each destination's step was decided: what lies below waits with it.
    std::vector<std::pair<std::string, MountSchedule::Step>> placed;
    const auto step_below = [&](const std::string& path) {
        MountSchedule::Step step = MountSchedule::before_pivot;
        for (const auto& [dir, its] : placed) {
            if (is_below(path, dir)) {
                step = std::max(step, its);
            }
        }
        return step;
    };
    const bool user_namespace = plan.devices == DeviceMode::bind_host;
    for (Mount& mount : all_mounts(plan)) {
        MountSchedule::Step step = step_below(mount.destination);
        if (mount.type == "sysfs" && plan.sysfs == SysfsMode::after_netns) {
            step = std::max(step, MountSchedule::in_network_namespace);
        } else if (mount.type == "sysfs" && plan.sysfs == SysfsMode::bind_host) {
            // The host's, read-only: sysfs cannot be mounted in a user namespace that
            // does not own the network namespace.
            mount.type.clear();
            mount.source = "/sys";
            mount.recursive = true;
            mount.flags |= MS_RDONLY;
        } else if (mount.type == "cgroup" || mount.type == "cgroup2") {
            if (user_namespace) {
                // v1 hierarchies cannot be mounted in a user namespace: the host's view.
                mount.type.clear();
                mount.source = "/sys/fs/cgroup";
                mount.recursive = true;
            } else {
                step = std::max(step, MountSchedule::in_cgroup_namespace);
            }
        }
        placed.emplace_back(mount.destination, step);
        schedule.mounts[step].push_back(std::move(mount));
    }
    const auto place_paths = [&](const std::optional<std::vector<std::string>>& given,
                                 std::span<const char* const> defaults,
                                 std::vector<std::string>(&into)[MountSchedule::steps]) {
        const std::vector<std::string> paths =
            given ? *given : std::vector<std::string>(defaults.begin(), defaults.end());
        for (const auto& path : paths) {
            into[step_below(path)].push_back(path);
        }
    };
    place_paths(plan.masked_paths, default_masked_paths, schedule.masked);
    place_paths(plan.readonly_paths, default_read_only_paths, schedule.read_only);
    return schedule;
}

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

void setup_rootfs(const RootfsPlan& plan, const MountSchedule& schedule) {
    if (plan.root_propagation == 0) {
        // Nothing we mount may leak back to the host, nor host mounts reach us.
        do_mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE);
    } else {
        do_mount(nullptr, "/", nullptr, plan.root_propagation);
        if ((plan.root_propagation & MS_SHARED) != 0) {
            make_rootfs_parent_private(plan.rootfs);
        }
    }
    // pivot_root needs the new root to be a mount point.
    do_mount(plan.rootfs.c_str(), plan.rootfs.c_str(), nullptr, MS_BIND | MS_REC);
    if (::chdir(plan.rootfs.c_str()) != 0) {
        throw_errno(fmt::format("cannot enter rootfs {}", plan.rootfs), errno);
    }
    // Mounted here, after our pid namespace exists, /proc shows the container's processes.
    mount_step(schedule, MountSchedule::before_pivot, ".");
    populate_dev(plan);

    pivot_into_current_directory(plan.rootfs);
    if (plan.root_propagation != 0) {
        do_mount(nullptr, "/", nullptr, plan.root_propagation);
    }
    hide_paths(plan, schedule, MountSchedule::before_pivot);
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
    if (!plan.readonly_paths || holds(*plan.readonly_paths, "/proc/sys")) {
        make_read_only("/proc/sys");
    }
}

void finish_rootfs(const RootfsPlan& plan, const MountSchedule& schedule) {
    mount_step(schedule, MountSchedule::in_network_namespace, "/");
    hide_paths(plan, schedule, MountSchedule::in_network_namespace);
}

void finish_rootfs_in_cgroup_namespace(const RootfsPlan& plan, const MountSchedule& schedule) {
    mount_step(schedule, MountSchedule::in_cgroup_namespace, "/");
    hide_paths(plan, schedule, MountSchedule::in_cgroup_namespace);
    if (plan.root_mode == RootMode::read_only) {
        remount_read_only("/");
    }
}

}  // namespace berth::container
