#pragma once
// Builds the container's filesystem view, run by the container's init inside its own
// mount namespace: propagation private, the rootfs bind-mounted onto itself and made
// the root with pivot_root (the old root detached, so host mounts are unreachable),
// then /proc, a read-only /sys, a minimal /dev, and runc-style masked and read-only
// paths. Throws Error naming the mount that failed.

#include <string>

#include "container/run_options.hpp"

namespace berth::container {

enum class DeviceMode { create_nodes, bind_host };  // bind_host in a user namespace (no mknod)
enum class SysfsMode { fresh, bind_host };          // bind_host when sharing the host netns rootless

struct RootfsPlan {
    std::string rootfs;
    RootMode root_mode = RootMode::writable;
    DeviceMode devices = DeviceMode::create_nodes;
    SysfsMode sysfs = SysfsMode::fresh;
};

void setup_rootfs(const RootfsPlan& plan);

}  // namespace berth::container
