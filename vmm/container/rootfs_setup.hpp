#pragma once
// Builds the container's filesystem view, run by the container's init inside its own
// mount namespace: propagation private, the rootfs bind-mounted onto itself and made
// the root with pivot_root (the old root detached, so host mounts are unreachable),
// then /proc, a read-only /sys, a minimal /dev, and runc-style masked and read-only
// paths. Throws Error naming the mount that failed.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vmm/container/run_options.hpp"

namespace berth::container {

enum class DeviceMode { create_nodes, bind_host };  // bind_host in a user namespace (no mknod)
// A fresh sysfs shows the network devices of the namespace it is mounted from, so it is
// mounted once init is in its final network namespace: at once when clone3 made it
// (fresh), after the rootfs when berth hands it over later (after_netns), or bound from
// the host when sharing the host's namespace rootless (bind_host: sysfs cannot be
// mounted there).
enum class SysfsMode { fresh, after_netns, bind_host };

struct RootfsPlan {
    std::string rootfs;
    RootMode root_mode = RootMode::writable;
    DeviceMode devices = DeviceMode::create_nodes;
    SysfsMode sysfs = SysfsMode::fresh;
    // OCI config.json's mounts, in order (container_mounts.hpp); berth's own /proc, /sys,
    // /dev, /dev/pts and /dev/shm join them where none has that destination.
    std::vector<Mount> mounts;
    // OCI linux.maskedPaths and readonlyPaths; unset: berth's lists (runc's defaults).
    std::optional<std::vector<std::string>> masked_paths;
    std::optional<std::vector<std::string>> readonly_paths;
    unsigned long root_propagation = 0;    // OCI linux.rootfsPropagation; 0: rprivate
    std::vector<DeviceNode> device_nodes;  // OCI linux.devices, made after the mounts
    // OCI linux.sysctl: /proc/sys stays writable until write_sysctls has set them.
    std::vector<std::pair<std::string, std::string>> sysctls;
};

// The mounts and masks in the order and at the step they happen: sysfs waits for the
// container's network namespace (a fresh sysfs shows the devices of the namespace it is
// mounted from), cgroup filesystems for its cgroup namespace (which makes the
// container's cgroup their root), and so does whatever is mounted or masked below them.
struct MountSchedule {
    enum Step { before_pivot, in_network_namespace, in_cgroup_namespace, steps };
    std::vector<Mount> mounts[steps];
    std::vector<std::string> masked[steps];
    std::vector<std::string> read_only[steps];
};
MountSchedule schedule_mounts(const RootfsPlan& plan);

// Makes the current directory, a mount point, the root: pivot_root(".", "."), the old
// root detached (host mounts become unreachable), "/" entered. `shown_as` names the new
// root in errors. Shared with the VMM's jail (jail.hpp).
void pivot_into_current_directory(const std::string& shown_as);
// Everything up to the pivot (the mounts, the device nodes), the detached old root and
// the masks of what is mounted by then.
void setup_rootfs(const RootfsPlan& plan, const MountSchedule& schedule);
// Then, in the container's network namespace: sysfs (after_netns), its masks.
void finish_rootfs(const RootfsPlan& plan, const MountSchedule& schedule);
// With sysctls (OCI, in the container's network namespace by now): writes each below
// /proc/sys, then makes /proc/sys read-only if it is a read-only path.
void write_sysctls(const RootfsPlan& plan);
// Last, in the container's cgroup namespace: cgroup filesystems, their masks, and a
// read-only root (--read-only, root.readonly).
void finish_rootfs_in_cgroup_namespace(const RootfsPlan& plan, const MountSchedule& schedule);

}  // namespace berth::container
