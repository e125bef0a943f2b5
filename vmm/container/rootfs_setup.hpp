#pragma once
// Builds the container's filesystem view, run by the container's init inside its own
// mount namespace: propagation private, the rootfs bind-mounted onto itself and made
// the root with pivot_root (the old root detached, so host mounts are unreachable),
// then /proc, a read-only /sys, a minimal /dev, and runc-style masked and read-only
// paths. Throws Error naming the mount that failed.

#include <string>
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
    std::vector<BindMount> binds;  // after /dev, before the pivot (bind_mounts.hpp)
    // OCI linux.sysctl: /proc/sys stays writable until write_sysctls has set them.
    std::vector<std::pair<std::string, std::string>> sysctls;
};

// Makes the current directory, a mount point, the root: pivot_root(".", "."), the old
// root detached (host mounts become unreachable), "/" entered. `shown_as` names the new
// root in errors. Shared with the VMM's jail (jail.hpp).
void pivot_into_current_directory(const std::string& shown_as);
// Everything up to the pivot, the detached old root and the /proc masks.
void setup_rootfs(const RootfsPlan& plan);
// Then, in the container's network namespace: /sys (after_netns), its masks, and
// --read-only, which comes last.
void finish_rootfs(const RootfsPlan& plan);
// With sysctls (OCI, in the container's network namespace by now): writes each below
// /proc/sys, then makes /proc/sys read-only as setup_rootfs does without them.
void write_sysctls(const RootfsPlan& plan);

}  // namespace berth::container
