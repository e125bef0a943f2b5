#pragma once
// A bundle's config.json (OCI runtime-spec 1.x) as a typed struct: what podman, CRI-O
// and containerd hand a runtime. Parsing only checks the JSON's shape and values; what
// berth can apply of it is decided where the run options are made (oci_run_options).
// A malformed document is bad input naming the JSON path that is wrong:
// "process.args: expected a non-empty array of strings". Properties berth does not know
// are ignored, as the spec asks of a runtime.

#include <sys/types.h>
#include <array>
#include <utility>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/container/cgroup_io_limits.hpp"

namespace berth::container::oci {

// The runtime-spec version berth writes in state and `--version` (the one it follows).
inline constexpr std::string_view spec_version = "1.1.0";

struct User {
    uid_t uid = 0;
    gid_t gid = 0;
    std::optional<mode_t> umask;
    std::vector<gid_t> additional_gids;
};

struct Rlimit {
    std::string type;  // "RLIMIT_NOFILE"
    std::uint64_t soft = 0;
    std::uint64_t hard = 0;
};

struct Capabilities {
    std::vector<std::string> bounding;
    std::vector<std::string> effective;
    std::vector<std::string> inheritable;
    std::vector<std::string> permitted;
    std::vector<std::string> ambient;
};

// process.consoleSize, in character cells.
struct ConsoleSize {
    std::uint32_t height = 0;
    std::uint32_t width = 0;
};

struct Process {
    bool terminal = false;
    std::optional<ConsoleSize> console_size;
    User user;
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string cwd;
    std::optional<Capabilities> capabilities;
    std::vector<Rlimit> rlimits;
    bool no_new_privileges = false;
    std::optional<int> oom_score_adj;  // -1000 to 1000
};

struct Root {
    std::string path;  // relative to the bundle, or absolute
    bool readonly = false;
};

struct Mount {
    std::string destination;
    std::string type;
    std::string source;
    std::vector<std::string> options;
};

enum class NamespaceType { pid, network, mount, ipc, uts, user, cgroup, time };
const char* name_of(NamespaceType type);

struct Namespace {
    NamespaceType type{};
    std::string path;  // empty: create one; else join the namespace at this path
};

// linux.timeOffsets: how far a new time namespace's clock is from the host's.
struct ClockOffset {
    std::int64_t secs = 0;
    std::uint32_t nanosecs = 0;  // below 1 000 000 000
};

struct TimeOffsets {
    std::optional<ClockOffset> monotonic;
    std::optional<ClockOffset> boottime;
};

// linux.devices: a node made in the container.
struct Device {
    std::string path;  // absolute, in the container
    char type = 'c';   // c (or u), b, p
    std::int64_t major = 0;
    std::int64_t minor = 0;
    std::optional<std::uint32_t> file_mode;  // the permission bits; 0666 when absent
    std::optional<std::uint32_t> uid;
    std::optional<std::uint32_t> gid;
};

// linux.uidMappings, gidMappings: `size` ids from `container_id` inside map to `host_id` on.
struct IdMapping {
    std::uint32_t container_id = 0;
    std::uint32_t host_id = 0;
    std::uint32_t size = 0;
};

// linux.resources.devices: one rule of the devices cgroup.
struct DeviceRule {
    bool allow = false;
    char type = 'a';                    // a (all), c, b
    std::optional<std::int64_t> major;  // absent or -1: any
    std::optional<std::int64_t> minor;
    std::string access = "rwm";
};

struct Resources {
    std::optional<std::int64_t> memory_limit;  // bytes; -1 unlimited
    std::optional<std::int64_t> pids_limit;    // <= 0 unlimited
    std::optional<std::int64_t> cpu_quota;     // microseconds per period; -1 unlimited
    std::optional<std::uint64_t> cpu_period;   // microseconds
    BlockIoLimits block_io;                    // blockIO; a weight of 0 is left unset
    std::vector<HugepageLimit> hugepage_limits;
    std::vector<DeviceRule> devices;
};

// linux.seccomp. Names of actions, operators, architectures and flags are kept as
// written: what berth can apply is decided where the filter is compiled
// (seccomp_config.hpp), which names the JSON path of anything it cannot.
struct SeccompArg {
    unsigned index = 0;  // 0 to 5
    std::uint64_t value = 0;
    std::uint64_t value_two = 0;
    std::string op;  // "SCMP_CMP_MASKED_EQ"
};

struct SeccompRule {
    std::vector<std::string> names;
    std::string action;
    std::optional<std::uint32_t> errno_ret;
    std::vector<SeccompArg> args;
};

struct Seccomp {
    std::string default_action;
    std::optional<std::uint32_t> default_errno_ret;
    std::vector<std::string> architectures;
    std::vector<std::string> flags;
    std::string listener_path;  // SCMP_ACT_NOTIFY's socket (refused)
    std::vector<SeccompRule> syscalls;
};

// One of config.json's hooks: `path` run with `args` (args[0] is its argv[0]) and
// exactly `env`, the state on its stdin, killed after `timeout` seconds.
struct Hook {
    std::string path;
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::optional<std::uint32_t> timeout;  // seconds, more than 0
};

struct Hooks {
    std::vector<Hook> prestart;  // deprecated by the spec, still what podman's hooks use
    std::vector<Hook> create_runtime;
    std::vector<Hook> create_container;
    std::vector<Hook> start_container;
    std::vector<Hook> poststart;
    std::vector<Hook> poststop;
};

// Each stage's hooks with its config.json name, in the spec's order; `H` is Hooks or
// const Hooks (parsing fills them, checking reads them).
template <typename H>
auto hook_stages(H& hooks) {
    using List = decltype(&hooks.prestart);
    return std::array<std::pair<std::string_view, List>, 6>{{
        {"prestart", &hooks.prestart},
        {"createRuntime", &hooks.create_runtime},
        {"createContainer", &hooks.create_container},
        {"startContainer", &hooks.start_container},
        {"poststart", &hooks.poststart},
        {"poststop", &hooks.poststop},
    }};
}

struct Spec {
    std::string oci_version;
    std::optional<Process> process;  // required by create (checked there)
    Root root;
    std::string hostname;
    std::string domainname;  // the uts namespace's NIS domain name; empty: left as it is
    std::vector<Mount> mounts;
    std::vector<Namespace> namespaces;
    Resources resources;
    std::string cgroups_path;
    // Absent: berth's default lists (runc's); present, even empty: exactly these.
    std::optional<std::vector<std::string>> masked_paths;
    std::optional<std::vector<std::string>> readonly_paths;
    std::string rootfs_propagation;             // linux.rootfsPropagation; empty: berth's rprivate
    std::vector<Device> devices;                // linux.devices
    std::vector<IdMapping> uid_mappings;        // linux.uidMappings: for a new user namespace
    std::vector<IdMapping> gid_mappings;        // linux.gidMappings
    std::optional<TimeOffsets> time_offsets;    // linux.timeOffsets: for a new time namespace
    std::optional<Seccomp> seccomp;             // absent: no filter at all, as with runc
    std::map<std::string, std::string> sysctl;  // "net.ipv4.ip_forward": "1"
    std::map<std::string, std::string> annotations;
    Hooks hooks;
};

// Parses config.json's text. Throws a bad-input Error "PATH: what is wrong".
Spec parse_spec(std::string_view json_text);
// Parses a process object alone (`berth exec --process FILE`, as runc takes it). Throws
// a bad-input Error "PATH: what is wrong", the path inside that object ("args: ...").
Process parse_process_document(std::string_view json_text);
// Parses a linux.resources object alone (`berth update --resources FILE`). Throws a
// bad-input Error "memory.limit: ...".
Resources parse_resources_document(std::string_view json_text);
// Reads and parses BUNDLE/config.json; errors start with "config.json: ".
Spec load_spec(const std::string& bundle);

}  // namespace berth::container::oci
