#pragma once
// Rootless `ct run`: clone3 gives init a user namespace of its own, and berth, outside
// it, maps the caller's user and group to root inside (the only ids an unprivileged
// caller may map). Until then init is "nobody" and may not build its rootfs, so init
// waits for berth's user_namespace_mapped (init_channel.hpp).

#include <sys/types.h>

#include <string>

namespace berth::container {

// Writes /proc/PID/setgroups ("deny": required before an unprivileged gid_map), uid_map
// and gid_map for the user namespace of `pid`. Throws Error naming the file.
void map_caller_to_root(pid_t pid);

// As root, for an OCI config's linux.uidMappings and gidMappings: writes `uid_map` and
// `gid_map` (lines "INSIDE OUTSIDE COUNT") for the user namespace of `pid`; setgroups
// stays allowed, so the container's root may set supplementary groups.
void write_id_maps(pid_t pid, const std::string& uid_map, const std::string& gid_map);

}  // namespace berth::container
