#pragma once
// A bundle's config.json (OCI runtime-spec 1.x) as a typed struct: what podman, CRI-O
// and containerd hand a runtime. Parsing only checks the JSON's shape and values; what
// berth can apply of it is decided where the run options are made (oci_run_options).
// A malformed document is bad input naming the JSON path that is wrong:
// "process.args: expected a non-empty array of strings". Properties berth does not know
// are ignored, as the spec asks of a runtime.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::container::oci {

// The runtime-spec version berth writes in state and `--version` (the one it follows).
inline constexpr std::string_view spec_version = "1.1.0";

struct User {
    uid_t uid = 0;
    gid_t gid = 0;
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

struct Process {
    bool terminal = false;
    User user;
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string cwd;
    std::optional<Capabilities> capabilities;
    std::vector<Rlimit> rlimits;
    bool no_new_privileges = false;
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

struct Resources {
    std::optional<std::int64_t> memory_limit;  // bytes; -1 unlimited
    std::optional<std::int64_t> pids_limit;    // <= 0 unlimited
    std::optional<std::int64_t> cpu_quota;     // microseconds per period; -1 unlimited
    std::optional<std::uint64_t> cpu_period;   // microseconds
};

struct Spec {
    std::string oci_version;
    std::optional<Process> process;  // required by create (checked there)
    Root root;
    std::string hostname;
    std::vector<Mount> mounts;
    std::vector<Namespace> namespaces;
    Resources resources;
    std::string cgroups_path;
    std::vector<std::string> masked_paths;
    std::vector<std::string> readonly_paths;
    std::map<std::string, std::string> annotations;
};

// Parses config.json's text. Throws a bad-input Error "PATH: what is wrong".
Spec parse_spec(std::string_view json_text);
// Parses a process object alone (`berth exec --process FILE`, as runc takes it). Throws
// a bad-input Error "PATH: what is wrong", the path inside that object ("args: ...").
Process parse_process_document(std::string_view json_text);
// Reads and parses BUNDLE/config.json; errors start with "config.json: ".
Spec load_spec(const std::string& bundle);

}  // namespace berth::container::oci
