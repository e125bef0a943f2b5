#include "vmm/container/cgroup_layout.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace berth::container {

namespace {

std::vector<std::string> split(std::string_view text, char separator) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t end = text.find(separator, start);
        const std::size_t stop = end == std::string_view::npos ? text.size() : end;
        if (stop > start) {
            parts.emplace_back(text.substr(start, stop - start));
        }
        if (end == std::string_view::npos) {
            break;
        }
        start = end + 1;
    }
    return parts;
}

// v1 mount options that are not controller names.
bool is_v1_controller_option(const std::string& option) {
    static const std::set<std::string> not_controllers = {
        "rw",    "ro",     "relatime", "noatime",        "nosuid",
        "nodev", "noexec", "xattr",    "clone_children", "noprefix"};
    return !not_controllers.contains(option) && option.find('=') == std::string::npos;
}

std::vector<std::string> read_controllers_file(const std::string& mount_point) {
    std::ifstream file(mount_point + "/cgroup.controllers");
    std::string line;
    std::getline(file, line);
    return split(line, ' ');
}

}  // namespace

CgroupLayout parse_cgroup_layout(
    std::string_view mountinfo,
    std::vector<std::string> (*read_v2_controllers)(const std::string&)) {
    CgroupLayout layout;
    for (const auto& line : split(mountinfo, '\n')) {
        // Fields: id parent dev root mount-point options [optional...] - fstype source
        // super-options
        const auto fields = split(line, ' ');
        std::size_t dash = 0;
        while (dash < fields.size() && fields[dash] != "-") {
            ++dash;
        }
        if (dash + 3 >= fields.size() || dash < 5) {
            continue;
        }
        const std::string& fstype = fields[dash + 1];
        const std::string& mount_point = fields[4];
        if (fstype == "cgroup") {
            CgroupHierarchy hierarchy{CgroupVersion::v1, mount_point, {}};
            for (const auto& option : split(fields[dash + 3], ',')) {
                if (is_v1_controller_option(option)) {
                    hierarchy.controllers.push_back(option);
                }
            }
            // Named hierarchies (name=systemd) carry no controller: not useful to us.
            if (!hierarchy.controllers.empty()) {
                layout.hierarchies.push_back(std::move(hierarchy));
            }
        } else if (fstype == "cgroup2") {
            layout.hierarchies.push_back(
                CgroupHierarchy{CgroupVersion::v2, mount_point, read_v2_controllers(mount_point)});
        }
    }
    return layout;
}

CgroupLayout host_cgroup_layout() {
    std::ifstream file("/proc/self/mountinfo");
    std::stringstream text;
    text << file.rdbuf();
    return parse_cgroup_layout(text.str(), read_controllers_file);
}

CgroupLayout::Kind CgroupLayout::kind() const {
    bool has_v1 = false;
    bool has_v2 = false;
    for (const auto& hierarchy : hierarchies) {
        (hierarchy.version == CgroupVersion::v1 ? has_v1 : has_v2) = true;
    }
    if (has_v1 && has_v2) {
        return Kind::hybrid;
    }
    if (has_v1) {
        return Kind::v1;
    }
    return has_v2 ? Kind::v2 : Kind::none;
}

const CgroupHierarchy* CgroupLayout::find(std::string_view controller) const {
    const CgroupHierarchy* found = nullptr;
    for (const auto& hierarchy : hierarchies) {
        for (const auto& name : hierarchy.controllers) {
            if (name == controller &&
                (found == nullptr || hierarchy.version == CgroupVersion::v1)) {
                found = &hierarchy;
            }
        }
    }
    return found;
}

std::string CgroupLayout::describe() const {
    std::vector<std::string> v1;
    std::vector<std::string> parts;
    for (const auto& hierarchy : hierarchies) {
        if (hierarchy.version == CgroupVersion::v1) {
            v1.insert(v1.end(), hierarchy.controllers.begin(), hierarchy.controllers.end());
        }
    }
    std::sort(v1.begin(), v1.end());
    if (!v1.empty()) {
        parts.push_back(fmt::format("v1 holds {}", fmt::join(v1, ", ")));
    }
    for (const auto& hierarchy : hierarchies) {
        if (hierarchy.version == CgroupVersion::v2) {
            parts.push_back(
                fmt::format("v2 at {} holds {}", hierarchy.mount_point,
                            hierarchy.controllers.empty()
                                ? std::string("no controller")
                                : fmt::format("{}", fmt::join(hierarchy.controllers, ", "))));
        }
    }
    static constexpr const char* kind_names[] = {"none", "v1", "v2", "hybrid"};
    return fmt::format("{}: {}", kind_names[static_cast<int>(kind())],
                       parts.empty() ? std::string("no cgroup mounts")
                                     : fmt::format("{}", fmt::join(parts, "; ")));
}

}  // namespace berth::container
