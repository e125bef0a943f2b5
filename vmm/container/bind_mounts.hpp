#pragma once
// Host files and directories bound into the container (an OCI config.json's bind
// mounts: podman's /etc/hosts, /etc/resolv.conf, /etc/hostname, /dev/shm, its -v
// volumes). Run by init in its mount namespace, with the rootfs as the current
// directory, before pivot_root, while the host's paths still resolve.
//
// The destination is inside a rootfs the image controls, so it is resolved with
// openat2(RESOLVE_IN_ROOT): a symlink in the image ("/etc -> /host/etc") resolves
// against the rootfs, never against the host. Missing directories on the way, and the
// mount point itself (a file for a file, a directory for a directory), are created
// the same way; the mount goes onto the opened mount point through /proc/self/fd.

#include <cstdint>
#include <string>
#include <vector>

namespace berth::container {

struct BindMount {
    std::string source;       // on the host, absolute
    std::string destination;  // in the container, absolute
    bool recursive = false;   // rbind: the submounts too
    // MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC: applied by a remount of the binding.
    unsigned long flags = 0;
};

// Binds every mount, in order, into the rootfs at `root_fd` (the current directory).
// Throws Error naming the destination.
void bind_mounts(int root_fd, const std::vector<BindMount>& mounts);

}  // namespace berth::container
