#include "vmm/container/oci_run_options.hpp"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include <cap-ng.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/cgroup_layout.hpp"
#include "vmm/container/mount_options.hpp"
#include "vmm/container/resource_limits.hpp"
#include "vmm/container/seccomp_cache.hpp"
#include "vmm/container/seccomp_config.hpp"
#include "vmm/net/network_namespace.hpp"

namespace berth::container::oci {

namespace {

[[noreturn]] void not_supported(const std::string& path, std::string_view what) {
    throw bad_input(fmt::format("{}: {} is not supported by berth yet", path, what));
}

int clone_flag(NamespaceType type) {
    switch (type) {
        case NamespaceType::pid:
            return CLONE_NEWPID;
        case NamespaceType::network:
            return CLONE_NEWNET;
        case NamespaceType::mount:
            return CLONE_NEWNS;
        case NamespaceType::ipc:
            return CLONE_NEWIPC;
        case NamespaceType::uts:
            return CLONE_NEWUTS;
        case NamespaceType::user:
            return CLONE_NEWUSER;
        case NamespaceType::cgroup:
            return CLONE_NEWCGROUP;
        case NamespaceType::time:
            return CLONE_NEWTIME;
    }
    return 0;
}

// A namespace to join: checked now (it must be a namespace of that type), so that a
// wrong path is bad input before anything is made; joined as the container starts.
RunOptions::JoinedNamespace joined_namespace(const Namespace& ns, const std::string& path) {
    const int type = clone_flag(ns.type);
    const UniqueFd fd(::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        throw bad_input(errno_message(fmt::format("{}: {}", path, quote(ns.path)), errno));
    }
    // Any file opens; only a namespace file answers NS_GET_NSTYPE.
    const int actual = ::ioctl(fd.get(), NS_GET_NSTYPE);
    if (actual != type) {
        std::string is;
        for (const NamespaceType other :
             {NamespaceType::pid, NamespaceType::network, NamespaceType::mount, NamespaceType::ipc,
              NamespaceType::uts, NamespaceType::user, NamespaceType::cgroup,
              NamespaceType::time}) {
            if (clone_flag(other) == actual) {
                is = fmt::format(" (it is a {} namespace)", name_of(other));
            }
        }
        throw bad_input(fmt::format("{}: {} is not a {} namespace{}", path, quote(ns.path),
                                    name_of(ns.type), actual < 0 ? " (nor any namespace)" : is));
    }
    if (::geteuid() != 0) {
        not_supported(path, "joining a namespace rootless");
    }
    return {type, ns.path};
}

// linux.namespaces: berth makes new pid, mount, uts and ipc namespaces unless one is
// given by path; the network namespace is the host's unless listed (a new one, or one
// to join: its path goes to `network_namespace`). A user or time namespace is made only
// when listed without a path (user_namespace_maps, time_namespace_of).
NetMode network_of(const Spec& spec, std::string& network_namespace,
                   std::vector<RunOptions::JoinedNamespace>& joined) {
    bool pid = false;
    bool mount = false;
    NetMode net = NetMode::host;
    for (std::size_t i = 0; i < spec.namespaces.size(); ++i) {
        const Namespace& ns = spec.namespaces[i];
        const std::string path = fmt::format("linux.namespaces[{}]", i);
        if (ns.type == NamespaceType::network && !ns.path.empty()) {
            try {
                net::open_network_namespace(ns.path);
            } catch (const Error& e) {
                throw e.with_context(path + ".path");
            }
            if (::geteuid() != 0) {
                not_supported(path + ".path", "joining a network namespace rootless");
            }
            network_namespace = ns.path;
        } else if (!ns.path.empty()) {
            joined.push_back(joined_namespace(ns, path + ".path"));
        }
        switch (ns.type) {
            case NamespaceType::pid:
                pid = true;
                break;
            case NamespaceType::mount:
                mount = true;
                break;
            case NamespaceType::network:
                net = NetMode::none;
                break;
            case NamespaceType::user:
                break;  // a new one: user_namespace_maps
            case NamespaceType::time:
            case NamespaceType::ipc:
            case NamespaceType::uts:
            case NamespaceType::cgroup:
                break;
        }
    }
    if (!pid || !mount) {
        not_supported("linux.namespaces",
                      "sharing the host's pid or mount namespace (list both pid and mount)");
    }
    return net;
}

// A new user namespace (linux.namespaces lists "user" without a path): its id maps
// from linux.uidMappings and gidMappings, which berth writes as root before init goes on.
void user_namespace_maps(const Spec& spec, RunOptions& options) {
    std::size_t index = 0;
    while (index < spec.namespaces.size() && spec.namespaces[index].type != NamespaceType::user) {
        ++index;
    }
    const bool wanted = index < spec.namespaces.size() && spec.namespaces[index].path.empty();
    if (!wanted) {
        if (!spec.uid_mappings.empty() || !spec.gid_mappings.empty()) {
            throw bad_input(
                "linux.uidMappings: id mappings need a new user namespace (a \"user\" entry "
                "without a path in linux.namespaces)");
        }
        return;
    }
    const std::string path = fmt::format("linux.namespaces[{}]", index);
    if (spec.uid_mappings.empty() || spec.gid_mappings.empty()) {
        throw bad_input(fmt::format(
            "{}: a new user namespace needs linux.uidMappings and linux.gidMappings", path));
    }
    if (::geteuid() != 0) {
        not_supported(path,
                      "a new user namespace with the config's id mappings rootless "
                      "(rootless berth maps only your own user, to 0)");
    }
    if (!options.joined_namespaces.empty() || !options.network_namespace.empty()) {
        not_supported(path, "a new user namespace together with namespaces joined by path");
    }
    const auto lines = [](const std::vector<IdMapping>& mappings) {
        std::string text;
        for (const auto& mapping : mappings) {
            text += fmt::format("{} {} {}\n", mapping.container_id, mapping.host_id, mapping.size);
        }
        return text;
    };
    // Init becomes the container's root once the maps are written; its own ids (berth's,
    // host root) are mapped to nothing there.
    const auto host_root = [](const std::vector<IdMapping>& mappings, std::string_view field) {
        for (const auto& mapping : mappings) {
            if (mapping.container_id == 0) {
                return mapping.host_id;
            }
        }
        throw bad_input(
            fmt::format("linux.{}: maps no id to 0 (the container's root, which "
                        "berth's init becomes)",
                        field));
    };
    options.mapped_root_uid = host_root(spec.uid_mappings, "uidMappings");
    options.mapped_root_gid = host_root(spec.gid_mappings, "gidMappings");
    options.uid_map = lines(spec.uid_mappings);
    options.gid_map = lines(spec.gid_mappings);
}

// A new time namespace (linux.namespaces lists "time" without a path) with the offsets
// of linux.timeOffsets, which need one. The kernel refuses offsets that would take a
// clock below zero only when they are written (ERANGE): berth says so then.
void time_namespace_of(const Spec& spec, RunOptions& options) {
    std::size_t index = 0;
    while (index < spec.namespaces.size() && spec.namespaces[index].type != NamespaceType::time) {
        ++index;
    }
    const bool wanted = index < spec.namespaces.size() && spec.namespaces[index].path.empty();
    if (!wanted) {
        if (spec.time_offsets) {
            throw bad_input(
                "linux.timeOffsets: offsets need a new time namespace (a \"time\" entry without a "
                "path in linux.namespaces)");
        }
        return;
    }
    const std::string path = fmt::format("linux.namespaces[{}]", index);
    if (::access("/proc/self/ns/time", F_OK) != 0) {
        throw bad_input(fmt::format(
            "{}: this host's kernel has no time namespaces (they need Linux 5.6 or later)", path));
    }
    if (::geteuid() != 0) {
        not_supported(path, "a new time namespace rootless");
    }
    options.new_time_namespace = true;
    if (spec.time_offsets) {
        const auto line = [](const char* clock, const std::optional<ClockOffset>& offset) {
            return offset ? fmt::format("{} {} {}\n", clock, offset->secs, offset->nanosecs)
                          : std::string();
        };
        options.time_offsets = line("monotonic", spec.time_offsets->monotonic) +
                               line("boottime", spec.time_offsets->boottime);
    }
}

// Each device a blockIO entry names must be a block device of this host: the kernel's
// refusal would come only once the cgroup is being made, and name no field.
void check_block_devices(const BlockIoLimits& limits) {
    const std::string path = "linux.resources.blockIO";
    const auto check = [&](const DeviceNumber& device, const std::string& where) {
        const std::string sys = fmt::format("/sys/dev/block/{}:{}", device.major, device.minor);
        if (::access(sys.c_str(), F_OK) != 0) {
            throw bad_input(fmt::format("{}.{}: {}:{} is not a block device of this host ({})",
                                        path, where, device.major, device.minor, sys));
        }
        // The kernel keeps I/O limits per disk.
        if (::access((sys + "/partition").c_str(), F_OK) == 0) {
            throw bad_input(fmt::format("{}.{}: {}:{} is a partition; give its whole disk", path,
                                        where, device.major, device.minor));
        }
    };
    for (std::size_t i = 0; i < limits.weight_devices.size(); ++i) {
        check(limits.weight_devices[i].device, fmt::format("weightDevice[{}]", i));
    }
    const std::pair<const char*, const std::vector<DeviceRate>*> throttles[] = {
        {"throttleReadBpsDevice", &limits.read_bps},
        {"throttleWriteBpsDevice", &limits.write_bps},
        {"throttleReadIOPSDevice", &limits.read_iops},
        {"throttleWriteIOPSDevice", &limits.write_iops},
    };
    for (const auto& [key, rates] : throttles) {
        for (std::size_t i = 0; i < rates->size(); ++i) {
            check((*rates)[i].device, fmt::format("{}[{}]", key, i));
        }
    }
}

void check_hugepage_sizes(const std::vector<HugepageLimit>& limits) {
    if (limits.empty()) {
        return;
    }
    const std::vector<std::string> sizes = host_hugepage_sizes();
    for (std::size_t i = 0; i < limits.size(); ++i) {
        if (std::find(sizes.begin(), sizes.end(), limits[i].page_size) == sizes.end()) {
            throw bad_input(fmt::format(
                "linux.resources.hugepageLimits[{}].pageSize: {} is not a huge page size of this "
                "host (it has: {})",
                i, quote(limits[i].page_size),
                sizes.empty() ? std::string("none") : fmt::format("{}", fmt::join(sizes, ", "))));
        }
    }
}

void apply_resources(const Resources& resources, RunOptions& options) {
    check_block_devices(resources.block_io);
    check_hugepage_sizes(resources.hugepage_limits);
    options.block_io = resources.block_io;
    options.hugepages = resources.hugepage_limits;
    // The spec's "no limit" values (-1, or 0 for pids) leave the controller unused.
    if (resources.memory_limit && *resources.memory_limit > 0) {
        options.memory_bytes = static_cast<std::uint64_t>(*resources.memory_limit);
    }
    if (resources.pids_limit && *resources.pids_limit > 0) {
        options.pids = static_cast<std::uint64_t>(*resources.pids_limit);
    }
    if (resources.cpu_quota && *resources.cpu_quota > 0) {
        // berth's cgroups use a fixed period; the same share of it.
        const std::uint64_t period = resources.cpu_period.value_or(cpu_period_us);
        const auto quota =
            static_cast<std::uint64_t>(*resources.cpu_quota) * cpu_period_us / period;
        if (quota < 1000 || quota > UINT32_MAX) {
            throw bad_input(fmt::format(
                "linux.resources.cpu: quota {} per period {} is outside what berth can set (1 ms "
                "to {} s of CPU time per 100 ms)",
                *resources.cpu_quota, period, UINT32_MAX / 1000000));
        }
        options.cpu_quota_us = static_cast<std::uint32_t>(quota);
    }
}

// One set of process.capabilities as a mask; `path` names it for errors.
std::uint64_t capability_mask(const std::vector<std::string>& names, const std::string& path) {
    std::uint64_t mask = 0;
    for (std::size_t i = 0; i < names.size(); ++i) {
        // libcap-ng knows the names without the prefix ("chown"), in any case.
        const int cap = capng_name_to_capability(names[i].c_str() + 4);
        if (cap < 0 || cap > 63) {
            throw bad_input(fmt::format("{}[{}]: {} is not a capability this berth knows", path, i,
                                        quote(names[i])));
        }
        mask |= std::uint64_t{1} << cap;
    }
    return mask;
}

CapabilitySets capability_sets(const Capabilities& caps) {
    return CapabilitySets{
        capability_mask(caps.bounding, "process.capabilities.bounding"),
        capability_mask(caps.effective, "process.capabilities.effective"),
        capability_mask(caps.permitted, "process.capabilities.permitted"),
        capability_mask(caps.inheritable, "process.capabilities.inheritable"),
        capability_mask(caps.ambient, "process.capabilities.ambient"),
    };
}

std::vector<RunOptions::Rlimit> resource_limits(const std::vector<Rlimit>& rlimits) {
    std::vector<RunOptions::Rlimit> limits;
    for (std::size_t i = 0; i < rlimits.size(); ++i) {
        const std::optional<int> resource = rlimit_resource(rlimits[i].type);
        if (!resource) {
            throw bad_input(
                fmt::format("process.rlimits[{}].type: {} is not a resource limit "
                            "(known: {})",
                            i, quote(rlimits[i].type), rlimit_names()));
        }
        limits.push_back({*resource, rlimits[i].soft, rlimits[i].hard});
    }
    return limits;
}

// A cgroup mount as this host's cgroups are laid out: cgroup2 on a v2 host; on a v1 or
// hybrid one a tmpfs with each hierarchy (v1 controllers, and the hybrid's v2 mount).
// The layout is read here: init, in its mount namespace, no longer sees the host's.
void lay_out_cgroup_mount(container::Mount& mount, std::optional<CgroupLayout>& layout) {
    if (mount.type == "cgroup2") {
        return;
    }
    if (!layout) {
        layout = host_cgroup_layout();
    }
    if (layout->kind() == CgroupLayout::Kind::v2) {
        mount.type = "cgroup2";
        return;
    }
    for (const auto& hierarchy : layout->hierarchies) {
        const std::string name = hierarchy.mount_point.substr(hierarchy.mount_point.rfind('/') + 1);
        if (hierarchy.version == CgroupVersion::v2) {
            mount.hierarchies.push_back({name, "cgroup2", ""});
        } else {
            mount.hierarchies.push_back(
                {name, "cgroup", fmt::format("{}", fmt::join(hierarchy.controllers, ","))});
        }
    }
}

// config.json's mounts as init applies them (container_mounts.hpp): every option
// checked here, so that a typo is bad input naming it before anything is made.
std::vector<container::Mount> mounts_of(const Spec& spec, const std::string& bundle) {
    std::vector<container::Mount> mounts;
    std::optional<CgroupLayout> layout;
    for (std::size_t i = 0; i < spec.mounts.size(); ++i) {
        const oci::Mount& given = spec.mounts[i];
        const std::string path = fmt::format("mounts[{}]", i);
        const MountOptions options = parse_mount_options(given.type, given.options, path);
        container::Mount mount = bind_mount({}, given.destination, options.flags);
        mount.recursive = options.recursive;
        mount.data = options.data;
        mount.cleared = options.cleared;
        mount.propagation = options.propagation;
        mount.copy_up = options.copy_up;
        mount.shown_as = path;
        if (options.bind) {
            if (given.source.empty()) {
                throw bad_input(path + ".source: a bind mount needs a source");
            }
            // The spec: a relative source is relative to the bundle.
            mount.source = given.source.front() == '/' ? given.source
                                                       : fmt::format("{}/{}", bundle, given.source);
            if (::access(mount.source.c_str(), F_OK) != 0) {
                throw bad_input(
                    errno_message(fmt::format("{}.source: {}", path, quote(mount.source)), errno));
            }
        } else {
            mount.type = given.type;
            mount.source = given.source.empty() ? given.type : given.source;
            if (mount.type == "cgroup" || mount.type == "cgroup2") {
                lay_out_cgroup_mount(mount, layout);
            }
        }
        mounts.push_back(std::move(mount));
    }
    return mounts;
}

// linux.maskedPaths or readonlyPaths: absolute paths in the container.
std::optional<std::vector<std::string>> container_paths(
    const std::optional<std::vector<std::string>>& paths, std::string_view field) {
    if (paths) {
        for (std::size_t i = 0; i < paths->size(); ++i) {
            if ((*paths)[i].empty() || (*paths)[i].front() != '/') {
                throw bad_input(fmt::format("linux.{}[{}]: {} is not an absolute path", field, i,
                                            quote((*paths)[i])));
            }
        }
    }
    return paths;
}

unsigned long root_propagation_of(const std::string& name) {
    if (name.empty()) {
        return 0;
    }
    const unsigned long flags = propagation_flags(name);
    if (flags == 0) {
        throw bad_input(fmt::format(
            "linux.rootfsPropagation: {} is not a propagation (private, rprivate, shared, "
            "rshared, slave, rslave, unbindable, runbindable)",
            quote(name)));
    }
    return flags;
}

// linux.devices as nodes init makes. In a user namespace the kernel refuses mknod of a
// device, so init binds the host's node at the same path, which must be there.
std::vector<DeviceNode> device_nodes_of(const Spec& spec, bool user_namespace) {
    std::vector<DeviceNode> nodes;
    for (std::size_t i = 0; i < spec.devices.size(); ++i) {
        const Device& device = spec.devices[i];
        const std::string path = fmt::format("linux.devices[{}]", i);
        const mode_t type = device.type == 'b' ? S_IFBLK : device.type == 'p' ? S_IFIFO : S_IFCHR;
        if (user_namespace && type != S_IFIFO) {
            struct stat host {};
            if (::stat(device.path.c_str(), &host) != 0 || (host.st_mode & S_IFMT) != type ||
                major(host.st_rdev) != device.major || minor(host.st_rdev) != device.minor) {
                throw bad_input(fmt::format(
                    "{}.path: {} is no {} device {}:{} on the host, from which berth binds it in "
                    "a user namespace (which may not make device nodes)",
                    path, quote(device.path), device.type == 'b' ? "block" : "character",
                    device.major, device.minor));
            }
        }
        nodes.push_back({device.path, type | static_cast<mode_t>(device.file_mode.value_or(0666)),
                         static_cast<unsigned>(device.major), static_cast<unsigned>(device.minor),
                         device.uid.value_or(0), device.gid.value_or(0), path});
    }
    return nodes;
}

// linux.resources.devices as the devices cgroup's rules, then (as runc does) access to
// the nodes every container has and to the config's linux.devices: a config whose
// first rule denies all still gets a working /dev/null.
std::vector<DeviceAccess> device_rules_of(const Spec& spec) {
    const std::vector<DeviceRule>& rules = spec.resources.devices;
    std::vector<DeviceAccess> access;
    if (rules.empty()) {
        return access;
    }
    for (std::size_t i = 0; i < rules.size(); ++i) {
        const DeviceRule& rule = rules[i];
        access.push_back({rule.allow, rule.type, rule.major.value_or(-1), rule.minor.value_or(-1),
                          rule.access, fmt::format("linux.resources.devices[{}]", i)});
    }
    // Every container's own nodes: mknod of any, then null, zero, full, random, urandom,
    // tty, ptmx and the pseudo-terminals.
    const std::string own = "berth's own device nodes";
    access.push_back({true, 'c', -1, -1, "m", own});
    access.push_back({true, 'b', -1, -1, "m", own});
    for (const auto& [major, minor] :
         {std::pair{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 2}, {136, -1}}) {
        access.push_back({true, 'c', major, minor, "rwm", own});
    }
    for (std::size_t i = 0; i < spec.devices.size(); ++i) {
        const Device& device = spec.devices[i];
        if (device.type != 'p') {
            // u (unbuffered) is a character device too.
            access.push_back({true, device.type == 'b' ? 'b' : 'c', device.major, device.minor,
                              "rwm", fmt::format("linux.devices[{}]", i)});
        }
    }
    return access;
}

// linux.cgroupsPath as a path of cgroupfs: absolute, or relative to berth's own cgroup;
// systemd's "slice:prefix:name" needs systemd, which berth does not drive.
std::string cgroups_path_of(const std::string& path) {
    if (path.find(':') != std::string::npos) {
        not_supported(
            "linux.cgroupsPath",
            fmt::format("{}, a systemd slice path (berth manages cgroupfs only)", quote(path)));
    }
    std::string clean;
    std::size_t start = 0;
    while (start < path.size()) {
        const auto slash = path.find('/', start);
        const std::string part =
            path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (part == "..") {
            throw bad_input(
                fmt::format("linux.cgroupsPath {}: \"..\" is not allowed", quote(path)));
        }
        if (!part.empty() && part != ".") {
            clean += clean.empty() && path.front() != '/' ? part : "/" + part;
        }
        if (slash == std::string::npos) {
            break;
        }
        start = slash + 1;
    }
    if (clean.empty() && !path.empty()) {
        throw bad_input(fmt::format("linux.cgroupsPath {}: names no cgroup", quote(path)));
    }
    return clean;
}

// linux.sysctl: only what the container's own namespaces hold (as runc allows): ipc's
// kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, uts's kernel.hostname and
// kernel.domainname, and net.* in a network namespace of its own. Keys become paths
// below /proc/sys.
std::vector<std::pair<std::string, std::string>> sysctls_of(const Spec& spec, NetMode net) {
    std::vector<std::pair<std::string, std::string>> sysctls;
    for (const auto& [key, value] : spec.sysctl) {
        const std::string path = fmt::format("linux.sysctl[{}]", quote(key));
        if (key.empty() || key.find("..") != std::string::npos ||
            key.find('/') != std::string::npos || key.front() == '.') {
            throw bad_input(
                fmt::format("{}: is not a sysctl name (like net.ipv4.ip_forward)", path));
        }
        const bool ipc = key.starts_with("kernel.msg") || key == "kernel.sem" ||
                         key.starts_with("kernel.shm") || key.starts_with("fs.mqueue.");
        const bool uts = key == "kernel.hostname" || key == "kernel.domainname";
        const bool network = key.starts_with("net.");
        if (network && net == NetMode::host) {
            throw bad_input(
                fmt::format("{}: a net.* sysctl needs a network namespace of the container's own "
                            "(linux.namespaces has none: it would change the host's)",
                            path));
        }
        if (!ipc && !uts && !network) {
            throw bad_input(
                fmt::format("{}: is not a namespaced sysctl (berth sets only "
                            "kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, "
                            "kernel.hostname, kernel.domainname and net.*)",
                            path));
        }
        std::string relative = key;
        std::replace(relative.begin(), relative.end(), '.', '/');
        sysctls.emplace_back(std::move(relative), value);
    }
    return sysctls;
}

std::string host_hostname() {
    char name[HOST_NAME_MAX + 1] = {};
    ::gethostname(name, sizeof name - 1);
    return name;
}

}  // namespace

RunOptions run_options_from(const Spec& spec, const std::string& bundle, const std::string& id,
                            const std::string& seccomp_cache) {
    if (!spec.process) {
        throw bad_input("process: is missing; berth create needs the process to start");
    }
    const Process& process = *spec.process;
    RunOptions options;
    options.shown_as = config_json_names;
    options.rootfs = spec.root.path.front() == '/' ? spec.root.path
                                                   : fmt::format("{}/{}", bundle, spec.root.path);
    // Named as the config names it here; ct run's own check would name its flag.
    struct stat root {};
    const int err = ::stat(options.rootfs.c_str(), &root) != 0 ? errno : 0;
    if (err != 0 || !S_ISDIR(root.st_mode)) {
        throw bad_input(fmt::format("root.path: {} is not a directory{}", quote(options.rootfs),
                                    err == ENOENT ? " (it does not exist)" : ""));
    }
    options.name = id;
    // Without a hostname the new uts namespace keeps the host's, as with runc.
    options.net = network_of(spec, options.network_namespace, options.joined_namespaces);
    const bool joins_uts =
        std::any_of(options.joined_namespaces.begin(), options.joined_namespaces.end(),
                    [](const RunOptions::JoinedNamespace& ns) { return ns.type == CLONE_NEWUTS; });
    options.hostname = !spec.hostname.empty() ? spec.hostname
                       : joins_uts            ? std::string()
                                              : host_hostname();
    options.domainname = spec.domainname;
    user_namespace_maps(spec, options);
    time_namespace_of(spec, options);
    apply_resources(spec.resources, options);
    options.cgroups_path = cgroups_path_of(spec.cgroups_path);
    options.sysctls = sysctls_of(spec, options.net);
    options.mounts = mounts_of(spec, bundle);
    options.masked_paths = container_paths(spec.masked_paths, "maskedPaths");
    options.readonly_paths = container_paths(spec.readonly_paths, "readonlyPaths");
    options.root_propagation = root_propagation_of(spec.rootfs_propagation);
    const bool user_namespace =
        ::geteuid() != 0 || !options.uid_map.empty() ||
        std::any_of(options.joined_namespaces.begin(), options.joined_namespaces.end(),
                    [](const RunOptions::JoinedNamespace& ns) { return ns.type == CLONE_NEWUSER; });
    options.devices = device_nodes_of(spec, user_namespace);
    options.device_rules = device_rules_of(spec);
    options.root_mode = spec.root.readonly ? RootMode::read_only : RootMode::writable;
    apply_process(process, options);
    apply_seccomp(spec, options, seccomp_cache);
    return options;
}

void apply_seccomp(const Spec& spec, RunOptions& options, const std::string& seccomp_cache) {
    options.config_seccomp = true;
    if (spec.seccomp) {
        options.seccomp = seccomp_cache.empty()
                              ? compile_seccomp(*spec.seccomp)
                              : compile_seccomp_cached(*spec.seccomp, seccomp_cache);
    }
}

void apply_process(const Process& process, RunOptions& options) {
    options.env = process.env;
    options.env_as_given = true;
    // No capabilities named: none at all, as the spec reads (runc does the same).
    options.capabilities =
        process.capabilities ? capability_sets(*process.capabilities) : CapabilitySets{};
    options.workdir = process.cwd;
    options.user = UserSpec{process.user.uid, process.user.gid, process.user.additional_gids};
    options.umask = process.user.umask.value_or(022);
    options.rlimits = resource_limits(process.rlimits);
    options.oom_score_adj = process.oom_score_adj;
    if (process.console_size) {
        options.console_size = WindowSize{static_cast<std::uint16_t>(process.console_size->height),
                                          static_cast<std::uint16_t>(process.console_size->width)};
    }
    if (::geteuid() != 0 && !options.user.additional_gids.empty()) {
        not_supported("process.user.additionalGids", "supplementary groups rootless");
    }
    // The runtime's caller (conmon, containerd's shim) hands the container its stdio,
    // or with a terminal gets the pseudo-terminal's master (--console-socket).
    options.keep_stdin = true;
    options.tty = process.terminal;
    options.command = process.args;
}

}  // namespace berth::container::oci
