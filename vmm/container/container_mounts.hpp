#pragma once
// The mounts of a container's filesystem view, one mechanism for all of them: berth's
// own (/proc, /sys, /dev, /dev/pts, /dev/shm), an OCI config.json's `mounts` (bind and
// rbind, tmpfs, proc, sysfs, devpts, mqueue, cgroup), and the VMM jail's binds. Run by
// init in its mount namespace with a descriptor of the root they go under: the rootfs
// before pivot_root (the host's paths still resolve for bind sources), or "/" after.
//
// The destination is inside a rootfs the image controls, so it is resolved with
// openat2(RESOLVE_IN_ROOT): a symlink in the image ("/etc -> /host/etc") resolves
// against the rootfs, never against the host. Missing directories on the way, and the
// mount point itself (a file for a file bound, a directory otherwise), are created the
// same way; the mount goes onto the opened mount point through /proc/self/fd.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "vmm/common/unique_fd.hpp"

namespace berth::container {

struct Mount {
    std::string source;       // bind: on the host, absolute; otherwise the mount's name
    std::string destination;  // in the container, absolute
    bool recursive = false;   // rbind: the submounts too
    // MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, the atime flags...: given to the mount
    // itself, or for a bind to a second mount(MS_REMOUNT | MS_BIND) of it (the kernel
    // ignores them on the bind).
    unsigned long flags = 0;
    std::string type;  // empty: a bind mount; else the filesystem ("tmpfs", "cgroup")
    std::string data;  // the filesystem's options ("mode=755,size=65536k")
    // Flags an option clears ("rw", "suid", "dev", "exec"): a bind's remount keeps the
    // bound mount's own (locked ones in a user namespace) unless cleared here.
    unsigned long cleared = 0;
    unsigned long propagation = 0;  // MS_PRIVATE, MS_SLAVE, ... (| MS_REC), after the mount
    // tmpfs with tmpcopyup: what was under the mount point is copied into the new tmpfs
    // (podman's --tmpfs), so the image's files there stay visible and become writable.
    bool copy_up = false;
    // type "cgroup": the hierarchies under the tmpfs it is on a v1 or hybrid host (made
    // from the host's layout before init exists: init cannot see it); empty: cgroup2.
    struct Hierarchy {
        std::string name;     // the directory: "memory", "cpu", "unified"
        std::string type;     // "cgroup" or "cgroup2"
        std::string options;  // the v1 controllers: "cpu,cpuacct"
    };
    std::vector<Hierarchy> hierarchies;
    std::string shown_as;  // errors: "mounts[3]"; empty: named by its destination
};

// A bind of `source` (on the host) with `flags` applied by a remount.
Mount bind_mount(std::string source, std::string destination, unsigned long flags);
// A filesystem of `type` with its options `data`.
Mount filesystem_mount(std::string type, std::string source, std::string destination,
                       unsigned long flags, std::string data = {});

// An O_PATH descriptor of the directory `path` (absolute, in the container) goes in,
// its missing directories made, all resolved under `root_fd`.
UniqueFd open_parent_in_root(int root_fd, const std::string& path);

// The flags of the mount `fd` is on (MS_NOSUID, MS_NODEV, MS_NOEXEC and the atime ones),
// which a remount must repeat: in a user namespace the kernel refuses to drop them.
unsigned long mount_flags_of(int fd);

// Mounts each, in order, under the root at `root_fd`. Throws Error naming the mount.
void apply_mounts(int root_fd, const std::vector<Mount>& mounts);

}  // namespace berth::container
