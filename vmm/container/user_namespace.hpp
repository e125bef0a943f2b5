#pragma once
// Rootless `ct run`: clone3 gives init a user namespace of its own, and berth, outside
// it, maps the caller's user and group to root inside (the only ids an unprivileged
// caller may map). Until then init is "nobody" and may not build its rootfs, so init
// waits for berth's user_namespace_mapped (init_channel.hpp).

#include <sys/types.h>

namespace berth::container {

// Writes /proc/PID/setgroups ("deny": required before an unprivileged gid_map), uid_map
// and gid_map for the user namespace of `pid`. Throws Error naming the file.
void map_caller_to_root(pid_t pid);

}  // namespace berth::container
