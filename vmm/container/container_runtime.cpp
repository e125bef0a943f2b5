#include "vmm/container/container_runtime.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <tuple>

#include <fmt/format.h>

#include "vmm/common/phase_clock.hpp"
#include "vmm/common/process.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/raw_terminal.hpp"
#include "vmm/common/size.hpp"
#include "vmm/container/container_init.hpp"
#include "vmm/container/image_rootfs.hpp"
#include "vmm/container/init_channel.hpp"
#include "vmm/container/joined_clone.hpp"
#include "vmm/container/supervised_signals.hpp"
#include "vmm/container/supervisor.hpp"
#include "vmm/net/bridge_network.hpp"

namespace berth::container {

namespace {

// What needs root, refused rootless before anything is made.
void check_privileges(const RunOptions& options, bool rootless) {
    if (!rootless) {
        return;
    }
    if (options.net == NetMode::bridge) {
        throw bad_input(
            "--net bridge needs root (it creates host network links); use --net none or run as "
            "root");
    }
    if (options.user.uid != 0 || options.user.gid != 0) {
        throw bad_input(
            fmt::format("{} other than 0 needs root: rootless, only your own user is mapped (to 0)",
                        options.shown_as.user));
    }
}

std::string canonical_rootfs(const std::string& rootfs, const char* shown_as) {
    std::error_code error;
    std::string path = std::filesystem::canonical(rootfs, error).string();
    if (error) {
        throw bad_input(fmt::format("{} {}: {}", shown_as, quote(rootfs), error.message()));
    }
    return path;
}

// What a container holds while berth starts it, in this order: what is made first goes
// last, so init is killed and reaped before its cgroups are removed and its lease and
// loop released.
struct Launch {
    // Declared first to go last, although it is made just before init: ending it
    // unblocks the supervised signals, and one that came after supervise() stopped
    // reading them (`timeout` sends its SIGTERM to berth and then to the whole process
    // group) takes its default action right there, and before everything below was
    // released that would leave the address lease behind (the kvm suite's bridge test
    // once found a lease left; this is one way to it, not proven the one).
    std::optional<BlockedSignals> blocked;
    std::optional<LoopDevice> loop;
    std::optional<net::IpLease> lease;
    HostResources held;
    InitChannel channel;  // berth's end
    ChildProcess init;
};

// Checks the options, makes init and sets it up from outside; returns once the command
// has started or, with a `start_gate` (OCI create), once init waits at it.
void launch(const RunOptions& options, const CgroupLimits& limits, int start_gate, Launch& launch) {
    auto& [blocked, loop, lease, held, channel, init] = launch;
    try {
        // All checks that need no privilege come first.
        const auto env = container_environment(options);
        const bool rootless = ::geteuid() != 0;
        const bool from_image = !options.image.empty() || !options.image_layers.empty();
        if (rootless && !options.image.empty()) {
            throw bad_input(
                "--image needs root (it mounts a loop device); unpack the image and use --rootfs");
        }
        // With --image the command is looked for once the image is mounted, inside init.
        const std::string command_path =
            from_image ? std::string()
                       : resolve_command(
                             options.rootfs, options.command.front(), env,
                             fmt::format("{} {}", options.shown_as.rootfs, quote(options.rootfs)));
        check_privileges(options, rootless);
        std::string rootfs;
        if (!options.image.empty()) {
            loop = LoopDevice::attach(options.image);
        } else if (!from_image) {
            rootfs = canonical_rootfs(options.rootfs, options.shown_as.rootfs);
        }
        if (options.net == NetMode::bridge) {
            lease = net::IpLease::acquire(options.ip);
        }

        const auto joins = [&](int type) {
            return std::any_of(
                options.joined_namespaces.begin(), options.joined_namespaces.end(),
                [&](const RunOptions::JoinedNamespace& ns) { return ns.type == type; });
        };
        // In a joined user namespace init is root only there, as rootless: no device
        // nodes, and the namespaces it mounts proc and sysfs for must be that
        // namespace's (made by clone3 after the join).
        const bool user_joined = joins(CLONE_NEWUSER);
        // A user namespace of init's own: rootless (the caller mapped to 0), or as root
        // with an OCI config's id maps. berth writes the maps once init exists.
        const bool own_user_namespace = rootless || !options.uid_map.empty();
        const bool in_user_namespace = own_user_namespace || user_joined;
        // As root berth makes the network namespace itself while init builds the rootfs
        // (see network_namespace.hpp); rootless, clone3 makes it in init's user namespace.
        const bool netns_by_berth = !own_user_namespace && options.net != NetMode::host &&
                                    (!user_joined || !options.network_namespace.empty());
        // The cgroups are resolved, checked and made while init builds its rootfs
        // (finding the hierarchies reads /proc/self/mountinfo, ~0.1 ms): a refusal (no such
        // controller, name in use, no permission) is still bad input, and init is killed
        // before any command runs.
        HostSetup setup{
            .map_user = own_user_namespace,
            .uid_map = options.uid_map,
            .gid_map = options.gid_map,
            .make_network_namespace = netns_by_berth,
            .attach_bridge = options.net == NetMode::bridge,
            .join_network_namespace = options.network_namespace,
            .cgroup_name = options.name.empty() ? std::to_string(::getpid()) : options.name,
            .limits = limits,
            // Root with --net host and no limits: nothing to wait for.
            .setup_done_sent = !own_user_namespace && !netns_by_berth && !limits.any(),
            .keep_sending = start_gate >= 0};
        // linux.namespaces with a path (OCI): open here, as bad input is found before
        // anything is made. User, mount, pid and time are entered before init exists
        // (joined_clone.hpp), user first; init joins the others itself.
        std::vector<UniqueFd> joined;
        std::vector<std::pair<int, int>> joined_by_init;
        std::vector<NamespaceToJoin> joined_before;
        for (const int type : {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWTIME,
                               CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP}) {
            for (const auto& ns : options.joined_namespaces) {
                if (ns.type != type) {
                    continue;
                }
                joined.emplace_back(::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
                if (!joined.back()) {
                    throw bad_input(errno_message(
                        fmt::format("cannot open namespace {}", quote(ns.path)), errno));
                }
                if ((type & (CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)) != 0) {
                    joined_by_init.emplace_back(joined.back().get(), type);
                } else {
                    joined_before.push_back({joined.back().get(), type, ns.path});
                }
            }
        }
        InitChannel init_end;
        std::tie(channel, init_end) = InitChannel::open();
        const InitPlan plan{
            .options = &options,
            .command_path = command_path,
            .env = env,
            .address = lease ? std::optional<net::Ipv4Cidr>(lease->cidr()) : std::nullopt,
            .user_namespace = rootless ? UserNamespace::private_ : UserNamespace::shared,
            .become_namespace_root = own_user_namespace,
            .rootfs = RootfsPlan{.rootfs = rootfs,
                                 .root_mode = options.root_mode,
                                 .devices = in_user_namespace ? DeviceMode::bind_host
                                                              : DeviceMode::create_nodes,
                                 .sysfs = in_user_namespace && options.net == NetMode::host
                                              ? SysfsMode::bind_host
                                          : netns_by_berth ? SysfsMode::after_netns
                                                           : SysfsMode::fresh,
                                 .mounts = options.mounts,
                                 .masked_paths = options.masked_paths,
                                 .readonly_paths = options.readonly_paths,
                                 .root_propagation = options.root_propagation,
                                 .device_nodes = options.devices,
                                 .sysctls = options.sysctls},
            .image_loop = loop ? loop->path() : std::string(),
            .image_layers = options.image_layers,
            .network_namespace_from_berth = netns_by_berth,
            .terminal = options.tty,
            // OCI: nobody waits for the notice; the cgroups go with berth delete.
            .notify_exit = limits.any() && start_gate < 0,
            .berth_end = channel.fd(),
            .channel = &init_end,
            .start_gate = start_gate,
            .joined_namespaces = joined_by_init,
            .pid_namespace_joined = joins(CLONE_NEWPID),
        };
        // What berth knows before clone3 is in the channel before init runs (both ends
        // are ours until then, so these sends cannot find init gone).
        if (!own_user_namespace) {
            channel.send(InitMessage::user_namespace_mapped);
        }
        if (setup.setup_done_sent) {
            channel.send(InitMessage::setup_done);
        }

        std::uint64_t flags = 0;
        for (const int type : {CLONE_NEWPID, CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC}) {
            flags |= joins(type) ? 0 : static_cast<std::uint64_t>(type);
        }
        if (options.net != NetMode::host && !netns_by_berth) {
            flags |= CLONE_NEWNET;
        }
        if (own_user_namespace) {
            flags |= CLONE_NEWUSER;
        }
        blocked.emplace();
        // A new time namespace goes through the same helper (its offsets are written
        // before init enters it); only then is start-up one fork longer.
        std::optional<NewTimeNamespace> new_time;
        if (options.new_time_namespace) {
            new_time = NewTimeNamespace{options.time_offsets};
        }
        const pid_t pid = joined_before.empty() && !new_time
                              ? clone_container(flags)
                              : clone_into_joined(flags, joined_before, new_time);
        if (pid == 0) {
            run_init(plan);
        }
        init = ChildProcess(pid);
        phase_mark("namespaces");
        init_end.close();
        set_up_and_start(init, channel, setup, held);
    } catch (const Error& e) {
        throw e.with_context("cannot start container");
    }
}

}  // namespace

int run_container(const RunOptions& options) {
    Launch started;
    const CgroupLimits limits{.memory_bytes = options.memory_bytes,
                              .pids = options.pids,
                              .cpu_quota_us = options.cpu_quota_us,
                              .block_io = options.block_io,
                              .hugepages = options.hugepages,
                              .device_rules = options.device_rules,
                              .freezer = false,
                              .every_controller = false,
                              .path = {},
                              .shown_as = options.shown_as};
    launch(options, limits, -1, started);
    HostResources& held = started.held;
    ChildProcess& init = started.init;
    const InitChannel& channel = started.channel;

    // Init leaves the cgroups once the command runs and then tells berth when the
    // command has ended (command_exited), so that they can go while the kernel still
    // tears init's namespaces down; an init that could not leave sends nothing.
    bool removed_early = false;
    // The OOM killer's SIGKILL either ends the command (128+9) or fails it through a
    // killed child; a command that succeeded was not stopped by it, so a clean exit
    // skips the read (it is on every run's way out).
    std::uint64_t oom_kills = 0;
    const auto command_exited = [&](int command_status) {
        if (command_status != 0) {
            oom_kills = held.cgroup.oom_kills();
        }
        held.cgroup.remove();  // waits out descendants that init's exit is killing
        removed_early = true;
        phase_mark("cgroups_removed");
    };
    std::optional<RawTerminal> raw_terminal;
    if (held.terminal) {
        raw_terminal.emplace(0, RawTerminal::Output::raw);
    }
    const int status = supervise(init, held.terminal.get(), options.keep_stdin,
                                 limits.any() ? &channel : nullptr, command_exited);
    raw_terminal.reset();
    if (!removed_early && status != 0) {
        oom_kills = held.cgroup.oom_kills();
    }
    if (oom_kills > 0) {
        fmt::print(stderr, "berth: container was killed: out of memory (limit {})\n",
                   format_size(*options.memory_bytes));
    }
    return status;
}

CreatedContainer create_container(const RunOptions& options, int start_gate) {
    Launch started;
    const bool root = ::geteuid() == 0;
    const CgroupLimits limits{.memory_bytes = options.memory_bytes,
                              .pids = options.pids,
                              .cpu_quota_us = options.cpu_quota_us,
                              .block_io = options.block_io,
                              .hugepages = options.hugepages,
                              .device_rules = options.device_rules,
                              .freezer = root,
                              .every_controller = root,
                              .path = options.cgroups_path,
                              .shown_as = options.shown_as};
    launch(options, limits, start_gate, started);
    // From here on nothing may fail: init and its cgroups now belong to the container.
    return CreatedContainer{started.init.release(), started.held.cgroup.keep(),
                            std::move(started.held.terminal), std::move(started.channel)};
}

}  // namespace berth::container
