#pragma once
// berth's side of a container once init exists (container_init.hpp is the inside):
// clone3, the set-up init cannot do for itself (its user namespace's id maps, a network
// namespace made ahead, cgroups, the veth), done from outside alongside init's rootfs
// and in step with it over the InitChannel; then waiting for the command, passing
// signals on to it and, with -t, relaying the terminal.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "vmm/common/process.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/container_cgroup.hpp"
#include "vmm/container/init_channel.hpp"
#include "vmm/net/bridge_network.hpp"

namespace berth::container {

// clone3 with `flags` (namespaces), SIGCHLD when the child ends; 0 in the child.
// Throws Error when the kernel refuses.
pid_t clone_container(std::uint64_t flags);

// What berth does from outside while init builds its rootfs.
struct HostSetup {
    bool map_user = false;  // a user namespace of init's own: write the id maps, then tell init
    std::string uid_map;    // OCI linux.uidMappings as root; empty: the caller to 0 (rootless)
    std::string gid_map;
    bool make_network_namespace = false;  // as root, unless --net host
    bool attach_bridge = false;           // --net bridge
    std::string join_network_namespace;   // OCI: this namespace instead of a new one
    std::string cgroup_name;
    CgroupLimits limits;
    bool setup_done_sent = false;  // before clone3: nothing for init to wait for
    // OCI create: berth still sends `recorded` once init waits at the start gate, so the
    // channel stays open for sending when the set-up has gone well.
    bool keep_sending = false;
};

// What berth holds for the container until it has ended. Made before init, so that it
// outlives it: the cgroups can only go once init has been reaped.
struct HostResources {
    ContainerCgroup cgroup;
    std::optional<net::BridgePort> port;
    UniqueFd terminal;  // -t: the pseudo-terminal's master
};

// Does `setup` for `init`, then waits until the command has started. When init failed
// too, its error is thrown (ours may only be a consequence, ESRCH once init's
// namespaces are gone, say); otherwise berth's own.
void set_up_and_start(ChildProcess& init, const InitChannel& channel, const HostSetup& setup,
                      HostResources& held);

// Waits for init while forwarding signals and, when `master` is open, relaying the
// terminal (stdin too when `relay_stdin`). `exit_notices` (or null): the channel where
// init sends command_exited; `command_exited` runs with its status then, while init is
// still on its way out. Returns init's status, the command's.
int supervise(ChildProcess& init, int master, bool relay_stdin, const InitChannel* exit_notices,
              const std::function<void(int)>& command_exited);

}  // namespace berth::container
