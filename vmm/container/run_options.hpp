#pragma once
// What `berth ct run` was asked to do, and the parsers that turn the user's text into
// it. Everything here is checked before any namespace, cgroup or link is created, so
// bad input costs nothing and leaves nothing behind.

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vmm/container/cgroup_io_limits.hpp"
#include "vmm/container/container_cgroup.hpp"
#include "vmm/container/container_mounts.hpp"
#include "vmm/container/pseudo_terminal.hpp"
#include "vmm/container/setting_names.hpp"
#include "vmm/net/ipv4.hpp"

namespace berth::container {

enum class NetMode { none, host, bridge };
enum class RootMode { writable, read_only };

struct UserSpec {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> additional_gids;  // supplementary groups (OCI); ct run has none
};

// Capability sets as masks (bit N: capability N). An OCI config.json names its own;
// `ct run` gives Docker's default set (security.hpp) in all three.
struct CapabilitySets {
    std::uint64_t bounding = 0;
    std::uint64_t effective = 0;
    std::uint64_t permitted = 0;
    std::uint64_t inheritable = 0;  // OCI only, as are ambient ones (kept across exec)
    std::uint64_t ambient = 0;
};

// A seccomp program the command loads before exec, with the flags for seccomp(2)
// (SECCOMP_FILTER_FLAG_*).
struct SeccompFilter {
    std::vector<sock_filter> program;
    unsigned flags = 0;
};

// OCI linux.devices: a node init makes (or, in a user namespace, binds from the host).
struct DeviceNode {
    std::string path;  // in the container, absolute
    mode_t mode = 0;   // S_IFCHR, S_IFBLK or S_IFIFO with the permission bits
    unsigned major = 0;
    unsigned minor = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string shown_as;  // "linux.devices[0]"
};

struct RunOptions {
    std::string rootfs;
    std::string image;  // instead of rootfs: a raw ext4 image (read-only + tmpfs overlay)
    // Instead of rootfs (--oci): an OCI image's unpacked layers, the base first, under a
    // tmpfs overlay (layer_cache.hpp); `oci_image` is the DIR[:TAG] errors name.
    std::vector<std::string> image_layers;
    std::string oci_image;
    std::string name;        // empty: berth-<pid> is used for cgroups
    std::string hostname;    // ct run: never empty; OCI: empty keeps a joined uts namespace's
    std::string domainname;  // OCI domainname; empty: the uts namespace keeps its own
    std::optional<std::uint64_t> memory_bytes;
    std::optional<std::uint64_t> pids;
    std::optional<std::uint32_t> cpu_quota_us;  // per cpu_period_us
    BlockIoLimits block_io;                     // OCI linux.resources.blockIO
    std::vector<DeviceAccess> device_rules;     // OCI linux.resources.devices (the cgroup's)
    std::vector<HugepageLimit> hugepages;       // OCI linux.resources.hugepageLimits
    std::string cgroups_path;                   // OCI linux.cgroupsPath (container_cgroup.hpp)
    NetMode net = NetMode::none;
    std::optional<net::Ipv4Cidr> ip;
    // OCI, as root: the network namespace to join (a path), with NetMode::none.
    std::string network_namespace;
    // OCI, as root: namespaces to join instead of new ones (CLONE_NEW* and the path): pid,
    // mount, ipc, uts, user, cgroup, time. With a uts namespace joined and no hostname,
    // the hostname stays.
    struct JoinedNamespace {
        int type = 0;
        std::string path;
    };
    std::vector<JoinedNamespace> joined_namespaces;
    // OCI, as root: a new time namespace (a "time" entry without a path), and what berth
    // writes to /proc/self/timens_offsets for it from linux.timeOffsets ("monotonic -5 0\n";
    // empty: the host's clocks). The offsets can be written only before the namespace's
    // first process enters it (joined_clone.hpp).
    bool new_time_namespace = false;
    std::string time_offsets;
    // OCI, as root: a new user namespace with these /proc/PID/uid_map and gid_map lines
    // ("0 100000 65536\n"), from linux.uidMappings and gidMappings; empty: none (rootless
    // berth makes one of its own, mapping the caller to 0).
    std::string uid_map;
    std::string gid_map;
    // The host ids of the container's root under those maps: init becomes it (it starts
    // as berth's own, unmapped there), and what init opens of berth's must let it.
    uid_t mapped_root_uid = 0;
    gid_t mapped_root_gid = 0;
    std::vector<std::string> env;  // "KEY=VALUE", the user's after our defaults
    std::string workdir = "/";
    bool create_workdir = false;  // an image's WorkingDir is made when missing (as podman does)
    UserSpec user;
    std::optional<CapabilitySets> capabilities;  // unset: Docker's default set
    // OCI: `seccomp` is the config's filter (linux.seccomp), or none at all when unset;
    // ct run loads berth's default filter (security.hpp).
    bool config_seccomp = false;
    std::optional<SeccompFilter> seccomp;
    // OCI: process.rlimits ({RLIMIT_*, soft, hard}), process.oomScoreAdj, user.umask.
    struct Rlimit {
        int resource = 0;
        std::uint64_t soft = 0;
        std::uint64_t hard = 0;
    };
    std::vector<Rlimit> rlimits;
    std::optional<int> oom_score_adj;
    // OCI process.consoleSize: the pseudo-terminal's size before the command starts.
    std::optional<WindowSize> console_size;
    mode_t umask = 022;
    // OCI linux.sysctl: (/proc/sys path below /proc/sys, value), namespaced ones only.
    std::vector<std::pair<std::string, std::string>> sysctls;
    // OCI --preserve-fds: descriptors 3 to 3+N-1 that berth inherited go to the command.
    unsigned preserve_fds = 0;
    // OCI: `env` is the whole environment (process.env), without berth's defaults.
    bool env_as_given = false;
    // OCI: config.json's mounts (container_mounts.hpp), in order; berth's own /proc, /sys,
    // /dev, /dev/pts and /dev/shm where none of them has that destination.
    std::vector<Mount> mounts;
    // OCI linux.maskedPaths, readonlyPaths; unset: berth's default lists (runc's).
    std::optional<std::vector<std::string>> masked_paths;
    std::optional<std::vector<std::string>> readonly_paths;
    unsigned long root_propagation = 0;  // OCI linux.rootfsPropagation (MS_*); 0: rprivate
    std::vector<DeviceNode> devices;     // OCI linux.devices
    RootMode root_mode = RootMode::writable;
    bool keep_stdin = false;  // -i
    bool tty = false;         // -t
    std::vector<std::string> command;
    // What errors call the settings: ct run's flags, or an OCI config's JSON paths.
    SettingNames shown_as;
};

inline constexpr std::uint32_t cpu_period_us = 100000;

// Parsers: each throws a bad-input Error naming the flag and the expected form.
// An --ip for the bridge: inside 10.88.0.0/16, not the network, gateway or broadcast.
net::Ipv4Cidr parse_bridge_ip(std::string_view text);
UserSpec parse_user(std::string_view text);
std::string parse_env(std::string_view text);     // checks "KEY=VALUE", returns it
std::uint32_t parse_cpus(std::string_view text);  // "0.5" -> quota in us per period
std::uint64_t parse_pids(std::string_view text);
std::uint64_t parse_memory(std::string_view text);
NetMode parse_net_mode(std::string_view text);
void check_name(std::string_view name, std::string_view what);  // --name, --hostname

// The environment the command starts with: PATH, HOSTNAME, HOME, TERM (with -t),
// then the user's entries, later ones replacing earlier ones with the same key (with
// env_as_given, the user's entries alone).
std::vector<std::string> container_environment(const RunOptions& options);
// The value of PATH in `env` (our default when unset).
std::string environment_path(const std::vector<std::string>& env);

// Checks the parts that need the filesystem: the rootfs is a directory, not the host's
// root, with no symlink (or file) where /proc, /sys or /dev go, and the command
// resolves inside it (absolute symlinks resolve against the rootfs, as they will after
// pivot_root). Returns the command's path inside the rootfs. Errors call the rootfs
// `shown_as` ("image 'x.img'" when it is a mounted image), by default "rootfs 'DIR'".
// A command that is not there is status 127, one that cannot be executed 126
// (exit_status.hpp); the rest is bad input.
std::string resolve_command(const std::string& rootfs, const std::string& command,
                            const std::vector<std::string>& env, std::string shown_as = {});

}  // namespace berth::container
