#pragma once
// An OCI config.json mount's `options` as mount(2) takes them: flags ("ro", "nosuid",
// "relatime", ...), the flags an option clears ("rw", "suid"), bind/rbind, propagation
// ("rprivate", "rslave", ...), and the filesystem's own options ("size=64m", "mode=755",
// "newinstance"), which berth checks by name and form per filesystem rather than leave
// to the kernel: a typo is bad input naming the option, not a mount failing inside the
// container. Pure: no file is read (unit-tested).

#include <string>
#include <string_view>
#include <vector>

namespace berth::container {

struct MountOptions {
    unsigned long flags = 0;    // MS_RDONLY, MS_NOSUID, ...
    unsigned long cleared = 0;  // flags "rw", "suid", "dev", "exec", ... clear
    unsigned long propagation = 0;
    bool bind = false;
    bool recursive = false;  // rbind
    bool copy_up = false;    // tmpcopyup (tmpfs): the files under the mount point copied in
    std::string data;        // the filesystem's options, comma-separated, in the given order
};

// The mount types berth applies: "bind" (or none with a bind/rbind option), tmpfs, proc,
// sysfs, devpts, mqueue, cgroup, cgroup2.
inline constexpr std::string_view mount_types =
    "bind, tmpfs, proc, sysfs, devpts, mqueue, cgroup, cgroup2";

// Reads `options` of a mount of `type` (empty when the config gives none). Throws a
// bad-input Error naming `path` ("mounts[3]"): "mounts[3].options: unknown option 'foo'",
// "mounts[3].type: 'nfs' is not a mount type berth applies (...)".
MountOptions parse_mount_options(std::string_view type, const std::vector<std::string>& options,
                                 const std::string& path);

// The generic options berth knows (flags, propagation, bind and rbind), for `features`.
std::vector<std::string> generic_mount_options();

// A propagation name ("rslave") as mount(2) flags, or 0 when it is none.
unsigned long propagation_flags(std::string_view name);

}  // namespace berth::container
