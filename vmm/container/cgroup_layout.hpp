#pragma once
// Which cgroup hierarchies this host has and where each controller lives. Hosts come
// in three layouts: v1 only, v2 only ("unified"), and hybrid, where v1 hierarchies
// hold most controllers and a v2 mount (usually /sys/fs/cgroup/unified) holds the
// rest. berth must handle all three, so it reads the layout instead of assuming one.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace berth::container {

enum class CgroupVersion { v1, v2 };

struct CgroupHierarchy {
    CgroupVersion version;
    std::string mount_point;
    std::vector<std::string> controllers;  // v1: from mount options; v2: cgroup.controllers
};

struct CgroupLayout {
    std::vector<CgroupHierarchy> hierarchies;

    enum class Kind { none, v1, v2, hybrid };
    Kind kind() const;
    // The hierarchy that holds `controller`, or nullptr. v1 wins when a controller
    // is listed in both (the kernel binds a controller to one hierarchy at a time).
    const CgroupHierarchy* find(std::string_view controller) const;
    // "hybrid: v1 holds cpu, memory, pids; v2 at /sys/fs/cgroup/unified holds hugetlb"
    std::string describe() const;
};

// Parses /proc/self/mountinfo text. `read_v2_controllers` reads a v2 mount's
// cgroup.controllers (injected so tests need no real cgroup filesystem).
CgroupLayout parse_cgroup_layout(
    std::string_view mountinfo,
    std::vector<std::string> (*read_v2_controllers)(const std::string&));

// The layout of the host berth runs on.
CgroupLayout host_cgroup_layout();

}  // namespace berth::container
