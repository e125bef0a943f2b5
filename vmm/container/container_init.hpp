#pragma once
// The container's PID 1: berth's clone3 child, the same binary with no exec. It builds
// the container from the inside (hostname, rootfs, network namespace, cgroup
// namespace, the interfaces), starts the command, then reaps every zombie and passes
// berth's signals on to the command until the command exits, and exits with its status
// (the kernel then kills what is left in the pid namespace). It talks to berth only
// over the InitChannel (init_channel.hpp).

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vmm/container/init_channel.hpp"
#include "vmm/container/rootfs_setup.hpp"
#include "vmm/container/run_options.hpp"
#include "vmm/container/security.hpp"
#include "vmm/net/ipv4.hpp"

namespace berth::container {

// Everything init needs, prepared by berth before clone3, so that init only acts.
struct InitPlan {
    const RunOptions* options = nullptr;
    std::string command_path;  // empty with --image, --oci: looked for once the image is mounted
    std::vector<std::string> env;
    std::optional<net::Ipv4Cidr> address;  // --net bridge: eth0's
    UserNamespace user_namespace = UserNamespace::shared;
    RootfsPlan rootfs;
    std::string image_loop;  // --image: the loop device init mounts (the rootfs is then in it)
    // --oci: the layers' directories, the base first; init lays them under an overlay
    // (the rootfs is then that).
    std::vector<std::string> image_layers;
    // Wait for berth's network namespace (as root, not --net host); otherwise clone3
    // made one (or there is none: --net host).
    bool network_namespace_from_berth = false;
    bool terminal = false;                 // -t: open a pseudo-terminal and send berth its master
    bool notify_exit = false;              // with cgroups: send command_exited as the command ends
    int berth_end = -1;                    // berth's end of the channel, which init closes
    const InitChannel* channel = nullptr;  // init's end
    // OCI create: the start FIFO (O_PATH) init waits at before the command (start_gate.hpp).
    int start_gate = -1;
    // OCI: ipc, uts and cgroup namespaces init joins (descriptor, CLONE_NEW*), opened by
    // berth before clone3 (user, mount, pid and time ones init is made in).
    std::vector<std::pair<int, int>> joined_namespaces;
    // OCI: init is not the pid namespace's first process, whose end would kill the
    // command; the command is tied to init's life instead.
    bool pid_namespace_joined = false;
};

[[noreturn]] void run_init(const InitPlan& plan);

// The last steps of the command's process, then execve (also `berth exec`'s process,
// once inside the container's namespaces): signals unblocked, a new session (with
// `tty_slave` >= 0 its controlling terminal and stdio), the workdir, privileges
// dropped, the seccomp filter. Throws the Error that stopped it (exit_status.hpp).
[[noreturn]] void exec_command(const InitPlan& plan, const std::string& command_path,
                               int tty_slave);
// A failure before exec with the status it ends the run with: a failure of the host is
// the runtime's (125); bad input and a command that cannot run keep theirs.
Error as_start_failure(const Error& error);

}  // namespace berth::container
