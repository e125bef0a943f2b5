#pragma once
// The cgroups of one container: a directory "berth-<name>" under the caller's own
// cgroup in every hierarchy that holds a controller we limit, the limits written
// before the container's first process runs, and the directories removed when the
// object goes away. Works on v1, v2 and hybrid hosts (see cgroup_layout.hpp).

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/common/unique_fd.hpp"
#include "vmm/container/cgroup_io_limits.hpp"
#include "vmm/container/cgroup_layout.hpp"
#include "vmm/container/setting_names.hpp"

namespace berth::container {

// One line of /proc/self/cgroup: "4:memory:/process_api/abc" or "0::/".
struct ProcCgroupEntry {
    std::vector<std::string> controllers;  // empty for the v2 line
    std::string path;
};

std::vector<ProcCgroupEntry> parse_proc_cgroup(std::string_view text);

// The directory of the caller's cgroup that holds `controller`: the hierarchy's mount
// point joined with the path /proc/self/cgroup gives for it. Empty when the layout has
// no such controller.
std::string controller_directory(const CgroupLayout& layout,
                                 const std::vector<ProcCgroupEntry>& self,
                                 std::string_view controller);
// The caller's cgroup in `hierarchy`; empty when /proc/self/cgroup has no line for it.
std::string hierarchy_directory(const CgroupHierarchy& hierarchy,
                                const std::vector<ProcCgroupEntry>& self,
                                std::string_view controller);

// One rule of the devices cgroup (OCI linux.resources.devices[i], or a node berth allows):
// v1's devices.allow and devices.deny take it as text (v1_device_rule), v2 as part of an
// eBPF program (device_filter.hpp).
struct DeviceAccess {
    bool allow = false;
    char type = 'a';          // a (every device), b, c
    std::int64_t major = -1;  // -1: any
    std::int64_t minor = -1;
    std::string access = "rwm";  // of r, w, m
    std::string shown_as;        // "linux.resources.devices[0]", for errors
};

// "c 1:5 rwm", "c *:* m"; "a" for a type-a rule (v1 takes no numbers or access with it).
std::string v1_device_rule(const DeviceAccess& rule);

struct CgroupLimits {
    std::optional<std::uint64_t> memory_bytes;
    std::optional<std::uint64_t> pids;
    std::optional<std::uint32_t> cpu_quota_us;
    // OCI linux.resources.blockIO and hugepageLimits (cgroup_io_limits.hpp).
    BlockIoLimits block_io;
    std::vector<HugepageLimit> hugepages;
    // OCI linux.resources.devices, then the nodes berth makes: written in order to a v1
    // devices cgroup, or on a host without one made into an eBPF program attached to a v2
    // cgroup (device_filter.hpp).
    std::vector<DeviceAccess> device_rules;
    // OCI: a cgroup for the freezer (pause/resume), with no limit of its own; on v2,
    // where every cgroup can be frozen, the v2 one.
    bool freezer = false;
    // OCI as root: a memory, pids and cpu cgroup even without a limit (where the host
    // has the controller), so that `berth update` can set one later.
    bool every_controller = false;
    // OCI linux.cgroupsPath: where the directories go instead of berth-NAME under the
    // caller's cgroups. Absolute: under each hierarchy's root; relative: under the
    // caller's cgroup. Missing parents are made (and stay, as with runc).
    std::string path;
    // What errors call the settings ("--memory" or "linux.resources.memory.limit").
    SettingNames shown_as;
    bool any() const {
        return memory_bytes || pids || cpu_quota_us || block_io.any() || !hugepages.empty() ||
               !device_rules.empty() || freezer || every_controller;
    }
};

// The membership files of a container's cgroups, through which its init moves itself
// in before the command starts and out once it runs (so that the cgroups can go as
// soon as the command ends): for each directory, its own file in `entries` and its
// parent's in `exits`, same order. A process moves itself by writing "0" (the writer)
// to one: move_self_through(). On v1 the file is `tasks`, which moves the calling
// thread alone; that skips the kernel's global threadgroup lock, whose write side waits
// out an RCU grace period (5-16 ms on this host after a quiet moment, against ~0.02 ms)
// every time a pid is written to cgroup.procs. Init has a single thread, so moving it
// moves the process. On v2 it is cgroup.procs: a thread moves alone only in threaded
// cgroups.
struct CgroupDoors {
    std::vector<UniqueFd> entries;
    std::vector<UniqueFd> exits;
};

// Moves the calling thread (v1) or process (v2) through each door, in order. Throws
// berth::Error naming the errno on the first refusal (a v2 parent that delegates
// controllers may hold no process, for one).
void move_self_through(std::span<const UniqueFd> doors);

class ContainerCgroup {
public:
    // Finds where the directories go and checks, creating nothing: a missing controller,
    // a name in use or a parent we may not write (rootless) is bad input naming the flag.
    static ContainerCgroup plan(const std::string& name, const CgroupLimits& limits);
    // The directories a container named `name` has where berth makes them (berth-NAME
    // under this process's cgroups), for when the berth that made them died before it
    // recorded them anywhere.
    static std::vector<std::string> existing(const std::string& name);
    // Creates the directories and writes the limits (berth does it while the container's
    // init builds its rootfs). A refused mkdir is bad input as in plan(); other failures
    // are runtime errors. What was created is removed on destruction.
    void create();

    ContainerCgroup() = default;
    ContainerCgroup(ContainerCgroup&& other) noexcept;
    ContainerCgroup& operator=(ContainerCgroup&& other) noexcept;
    ContainerCgroup(const ContainerCgroup&) = delete;
    ContainerCgroup& operator=(const ContainerCgroup&) = delete;
    ~ContainerCgroup();

    // The files init moves itself in and out through (see CgroupDoors), opened now
    // that the directories exist.
    CgroupDoors open_doors() const;
    // How many processes the kernel's OOM killer killed in the memory cgroup.
    std::uint64_t oom_kills() const;
    // Removes the directories now (all processes must have exited).
    void remove();
    // Stops owning the directories, which outlive this object (an OCI container's
    // cgroups stay until `berth delete`); their paths, for whoever removes them then.
    std::vector<std::string> keep();

private:
    struct Directory {
        std::string path;
        CgroupVersion version;
    };
    struct Place {
        const char* controller;
        const char* flag;
        std::string parent;
        std::string dir;
        CgroupVersion version;
    };
    void make_parents(const Place& place);

    CgroupLimits limits_;
    std::vector<Place> places_;
    std::vector<Directory> directories_;
    std::optional<Directory> memory_;
};

}  // namespace berth::container
