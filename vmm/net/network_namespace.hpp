#pragma once
// The container's network namespace, made by berth itself while the container's init
// builds its rootfs. Creating a network namespace is the dearest part of a start
// (~0.4 ms here: sysctl tables, the loopback device, IPv6 set-up), and bringing lo up
// adds ~0.04 ms; done by clone3 and init they sat on the start's critical path.
// berth steps into a new namespace, brings lo up there, keeps it open and steps back
// into its own (as `ip netns add` does); init gets the descriptor (SCM_RIGHTS) and
// enters it with setns. Only as root: unprivileged, the namespace must belong to the
// container's user namespace, so clone3 makes it.

#include <string>

#include "vmm/common/unique_fd.hpp"

namespace berth::net {

// A new network namespace with lo up, as an open descriptor; the caller stays in (or is
// back in) its own. Throws Error naming the step that failed.
UniqueFd make_network_namespace();

// An existing network namespace, by path (/run/netns/NAME, /proc/PID/ns/net), as an
// OCI caller that made one (podman with CNI) asks a container to join. A path that is
// not a network namespace is bad input naming it.
UniqueFd open_network_namespace(const std::string& path);

}  // namespace berth::net
