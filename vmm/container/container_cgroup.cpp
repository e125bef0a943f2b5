#include "vmm/container/container_cgroup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/device_filter.hpp"
#include "vmm/container/run_options.hpp"

namespace berth::container {

namespace {

std::vector<std::string> split_commas(std::string_view text) {
    std::vector<std::string> parts;
    while (!text.empty()) {
        const auto comma = text.find(',');
        if (comma != 0) {
            parts.emplace_back(text.substr(0, comma));
        }
        if (comma == std::string_view::npos) {
            break;
        }
        text.remove_prefix(comma + 1);
    }
    return parts;
}

void write_file(const std::string& path, const std::string& value) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd ||
        ::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
        throw_errno(fmt::format("cannot write {} to {}", quote(value), path), errno);
    }
}

std::string read_small_file(const std::string& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

// The number after `key ` in a flat-keyed file (memory.events, memory.oom_control).
std::uint64_t keyed_value(const std::string& text, std::string_view key) {
    std::istringstream lines(text);
    std::string name;
    std::uint64_t value = 0;
    while (lines >> name >> value) {
        if (name == key) {
            return value;
        }
    }
    return 0;
}

// A controller the limits need and the flag that asked for it.
struct Wanted {
    const char* controller;
    const char* flag;
};

Error name_in_use(const std::string& dir, std::string_view name, const char* shown_as) {
    return bad_input(
        fmt::format("cgroup {} exists: a container named {} is running; choose another {}", dir,
                    quote(name), shown_as));
}

Error no_permission(const char* flag, const std::string& dir, int err) {
    return bad_input(
        fmt::format("{} needs permission to create cgroup {}: {}; run as root or drop {}", flag,
                    dir, std::strerror(err), flag));
}

// Neither the freezer nor the devices cgroup is a controller on v2: every v2 cgroup has
// cgroup.freeze and takes a device program (device_filter.hpp). Without a v1 hierarchy of
// their own they go to the v2 one, where nothing is enabled for them.
bool is_v2_controller(std::string_view controller) {
    return controller != "freezer" && controller != "devices";
}

const CgroupHierarchy* v2_hierarchy(const CgroupLayout& layout) {
    for (const auto& hierarchy : layout.hierarchies) {
        if (hierarchy.version == CgroupVersion::v2) {
            return &hierarchy;
        }
    }
    return nullptr;
}

// "berth-NAME" → "NAME", for messages.
std::string_view name_of(std::string_view dir) {
    dir.remove_prefix(dir.rfind("/berth-") + 7);
    return dir;
}

}  // namespace

std::string v1_device_rule(const DeviceAccess& rule) {
    if (rule.type == 'a') {
        return "a";
    }
    const auto number = [](std::int64_t value) {
        return value < 0 ? std::string("*") : std::to_string(value);
    };
    return fmt::format("{} {}:{} {}", rule.type, number(rule.major), number(rule.minor),
                       rule.access);
}

std::vector<ProcCgroupEntry> parse_proc_cgroup(std::string_view text) {
    std::vector<ProcCgroupEntry> entries;
    while (!text.empty()) {
        const auto newline = text.find('\n');
        const std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        const auto first = line.find(':');
        const auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
        if (second == std::string_view::npos) {
            continue;
        }
        entries.push_back({split_commas(line.substr(first + 1, second - first - 1)),
                           std::string(line.substr(second + 1))});
    }
    return entries;
}

std::string controller_directory(const CgroupLayout& layout,
                                 const std::vector<ProcCgroupEntry>& self,
                                 std::string_view controller) {
    const CgroupHierarchy* hierarchy = layout.find(controller);
    if (hierarchy == nullptr) {
        return {};
    }
    return hierarchy_directory(*hierarchy, self, controller);
}

std::string hierarchy_directory(const CgroupHierarchy& hierarchy,
                                const std::vector<ProcCgroupEntry>& self,
                                std::string_view controller) {
    for (const auto& entry : self) {
        const bool match = hierarchy.version == CgroupVersion::v2
                               ? entry.controllers.empty()
                               : std::find(entry.controllers.begin(), entry.controllers.end(),
                                           controller) != entry.controllers.end();
        if (match) {
            std::string path = hierarchy.mount_point;
            if (entry.path != "/") {
                path += entry.path;
            }
            return path;
        }
    }
    return {};
}

ContainerCgroup ContainerCgroup::plan(const std::string& name, const CgroupLimits& limits) {
    ContainerCgroup cgroup;
    cgroup.limits_ = limits;
    if (!limits.any()) {
        return cgroup;
    }
    const CgroupLayout layout = host_cgroup_layout();
    const auto self = parse_proc_cgroup(read_small_file("/proc/self/cgroup"));

    std::vector<Wanted> wanted;
    // Without a limit, a controller the host lacks is no error (every_controller).
    const auto offered = [&](const char* controller) { return layout.find(controller) != nullptr; };
    if (limits.memory_bytes || (limits.every_controller && offered("memory"))) {
        wanted.push_back({"memory", limits.shown_as.memory});
    }
    if (limits.pids || (limits.every_controller && offered("pids"))) {
        wanted.push_back({"pids", limits.shown_as.pids});
    }
    if (limits.cpu_quota_us || (limits.every_controller && offered("cpu"))) {
        wanted.push_back({"cpu", limits.shown_as.cpus});
    }
    // No controller of either name: the error names v1's.
    const std::string io_controller = block_io_controller(layout);
    if (limits.block_io.any()) {
        wanted.push_back({io_controller == "io" ? "io" : "blkio", "linux.resources.blockIO"});
    }
    if (!limits.hugepages.empty()) {
        wanted.push_back({"hugetlb", "linux.resources.hugepageLimits"});
    }
    if (!limits.device_rules.empty()) {
        wanted.push_back({"devices", "linux.resources.devices"});
    }
    if (limits.freezer) {
        wanted.push_back({"freezer", "pause"});
    }
    // Resolve and check everything first: a missing controller, a name in use or a
    // cgroup we may not create is bad input before any namespace exists. create()
    // still reports the same should things change in between.
    for (const auto& want : wanted) {
        // Where the cgroup goes: the controller's hierarchy (the freezer's and the devices
        // cgroup's may be the v2 one: is_v2_controller).
        const CgroupHierarchy* found = layout.find(want.controller);
        if (found == nullptr && !is_v2_controller(want.controller)) {
            found = v2_hierarchy(layout);
        }
        const std::string parent =
            found == nullptr ? std::string() : hierarchy_directory(*found, self, want.controller);
        if (parent.empty()) {
            throw bad_input(fmt::format(
                "{} needs the {} cgroup controller, which this host does not offer ({})", want.flag,
                quote(want.controller), layout.describe()));
        }
        const CgroupHierarchy& hierarchy = *found;
        if (want.controller == std::string_view("blkio") ||
            want.controller == std::string_view("io")) {
            check_block_io(parent, hierarchy.version, limits.block_io);
        }
        const std::string dir = limits.path.empty()          ? parent + "/berth-" + name
                                : limits.path.front() == '/' ? hierarchy.mount_point + limits.path
                                                             : parent + "/" + limits.path;
        if (::access(dir.c_str(), F_OK) == 0) {
            if (!limits.path.empty()) {
                throw bad_input(fmt::format(
                    "linux.cgroupsPath {}: cgroup {} exists already (another container's?)",
                    quote(limits.path), dir));
            }
            throw name_in_use(dir, name, limits.shown_as.name);
        }
        if (limits.path.empty() && ::access(parent.c_str(), W_OK) != 0) {
            throw no_permission(want.flag, dir, errno);
        }
        cgroup.places_.push_back(
            {want.controller, want.flag, dir.substr(0, dir.rfind('/')), dir, hierarchy.version});
    }
    return cgroup;
}

std::vector<std::string> ContainerCgroup::existing(const std::string& name) {
    const CgroupLayout layout = host_cgroup_layout();
    const auto self = parse_proc_cgroup(read_small_file("/proc/self/cgroup"));
    std::vector<std::string> found;
    for (const char* controller :
         {"memory", "pids", "cpu", "freezer", "blkio", "io", "hugetlb", "devices"}) {
        const std::string parent = controller_directory(layout, self, controller);
        const std::string dir = parent + "/berth-" + name;
        if (!parent.empty() && ::access(dir.c_str(), F_OK) == 0 &&
            std::find(found.begin(), found.end(), dir) == found.end()) {
            found.push_back(dir);
        }
    }
    // A freezer or devices cgroup in the v2 hierarchy of a host whose v1 lacks them.
    if (const CgroupHierarchy* v2 = v2_hierarchy(layout)) {
        const std::string parent = hierarchy_directory(*v2, self, "");
        const std::string dir = parent + "/berth-" + name;
        if (!parent.empty() && ::access(dir.c_str(), F_OK) == 0 &&
            std::find(found.begin(), found.end(), dir) == found.end()) {
            found.push_back(dir);
        }
    }
    return found;
}

void ContainerCgroup::create() {
    const CgroupLimits& limits = limits_;
    for (const auto& place : places_) {
        const std::string& dir = place.dir;
        const bool known = std::any_of(directories_.begin(), directories_.end(),
                                       [&](const Directory& d) { return d.path == dir; });
        if (!known) {
            if (!limits.path.empty()) {
                make_parents(place);
            }
            // The freezer and the devices cgroup are no controllers on v2: nothing to enable.
            if (place.version == CgroupVersion::v2 && is_v2_controller(place.controller)) {
                // v2 hands a controller to children only when the parent delegates it.
                const std::string enable = std::string("+") + place.controller;
                try {
                    write_file(place.parent + "/cgroup.subtree_control", enable);
                } catch (const Error& e) {
                    throw e.with_context(fmt::format("{} needs the {} controller delegated in {}",
                                                     place.flag, quote(place.controller),
                                                     place.parent));
                }
            }
            if (::mkdir(dir.c_str(), 0755) != 0) {
                const int err = errno;
                if (err == EEXIST) {
                    throw name_in_use(dir, name_of(dir), limits.shown_as.name);
                }
                if (err == EACCES || err == EPERM || err == EROFS) {
                    throw no_permission(place.flag, dir, err);
                }
                throw_errno(fmt::format("cannot create cgroup {}", dir), err);
            }
            directories_.push_back({dir, place.version});
        }
        const bool v1 = place.version == CgroupVersion::v1;
        const std::string_view controller = place.controller;
        if (controller == "memory") {
            memory_ = Directory{dir, place.version};
            if (!limits.memory_bytes) {
                continue;
            }
            const std::string bytes = std::to_string(*limits.memory_bytes);
            write_file(dir + (v1 ? "/memory.limit_in_bytes" : "/memory.max"), bytes);
            // No swap either, so the limit is the limit (the file exists only with swap
            // accounting).
            const std::string swap =
                dir + (v1 ? "/memory.memsw.limit_in_bytes" : "/memory.swap.max");
            if (::access(swap.c_str(), W_OK) == 0) {
                write_file(swap, v1 ? bytes : "0");
            }
        } else if (controller == "pids" && limits.pids) {
            write_file(dir + "/pids.max", std::to_string(*limits.pids));
        } else if (controller == "cpu" && limits.cpu_quota_us) {
            if (v1) {
                write_file(dir + "/cpu.cfs_period_us", std::to_string(cpu_period_us));
                write_file(dir + "/cpu.cfs_quota_us", std::to_string(*limits.cpu_quota_us));
            } else {
                write_file(dir + "/cpu.max",
                           fmt::format("{} {}", *limits.cpu_quota_us, cpu_period_us));
            }
        } else if (controller == "blkio" || controller == "io") {
            try {
                write_block_io(dir, place.version, limits.block_io);
            } catch (const Error& e) {
                throw e.with_context(place.flag);
            }
        } else if (controller == "devices" && v1) {
            // In order: a first "deny a" turns the parent's allow-all into deny-all.
            for (const auto& rule : limits.device_rules) {
                const std::string text = v1_device_rule(rule);
                try {
                    write_file(dir + (rule.allow ? "/devices.allow" : "/devices.deny"), text);
                } catch (const Error& e) {
                    throw e.with_context(fmt::format("{} ({})", rule.shown_as, quote(text)));
                }
            }
        } else if (controller == "devices") {
            try {
                attach_device_filter(dir, limits.device_rules);
            } catch (const Error& e) {
                throw e.with_context(place.flag);
            }
        } else if (controller == "hugetlb") {
            try {
                write_hugepage_limits(dir, place.version, limits.hugepages);
            } catch (const Error& e) {
                throw e.with_context(place.flag);
            }
        }
    }
}

// linux.cgroupsPath: the parents of `place.dir` that do not exist yet, from the top
// (on v2 each handing the controller down to the next).
void ContainerCgroup::make_parents(const Place& place) {
    std::vector<std::string> missing;
    for (std::string dir = place.parent; ::access(dir.c_str(), F_OK) != 0;
         dir = dir.substr(0, dir.rfind('/'))) {
        missing.push_back(dir);
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
        const std::string above = it->substr(0, it->rfind('/'));
        if (place.version == CgroupVersion::v2 && is_v2_controller(place.controller)) {
            write_file(above + "/cgroup.subtree_control", std::string("+") + place.controller);
        }
        if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST) {
            throw_errno(fmt::format("linux.cgroupsPath: cannot create cgroup {}", *it), errno);
        }
    }
}

ContainerCgroup::ContainerCgroup(ContainerCgroup&& other) noexcept
    : limits_(other.limits_),
      places_(std::exchange(other.places_, {})),
      directories_(std::exchange(other.directories_, {})),
      memory_(std::exchange(other.memory_, {})) {}

ContainerCgroup& ContainerCgroup::operator=(ContainerCgroup&& other) noexcept {
    if (this != &other) {
        remove();
        limits_ = other.limits_;
        places_ = std::exchange(other.places_, {});
        directories_ = std::exchange(other.directories_, {});
        memory_ = std::exchange(other.memory_, {});
    }
    return *this;
}

ContainerCgroup::~ContainerCgroup() {
    remove();
}

void move_self_through(std::span<const UniqueFd> doors) {
    for (const UniqueFd& door : doors) {
        if (::write(door.get(), "0", 1) != 1) {
            throw_errno("cannot move into a cgroup", errno);
        }
    }
}

CgroupDoors ContainerCgroup::open_doors() const {
    const auto open_door = [](const std::string& dir, CgroupVersion version) {
        const std::string path = dir + (version == CgroupVersion::v1 ? "/tasks" : "/cgroup.procs");
        UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd) {
            throw_errno(fmt::format("cannot open {}", path), errno);
        }
        return fd;
    };
    CgroupDoors doors;
    for (const auto& dir : directories_) {
        doors.entries.push_back(open_door(dir.path, dir.version));
        doors.exits.push_back(open_door(dir.path.substr(0, dir.path.rfind('/')), dir.version));
    }
    return doors;
}

std::uint64_t ContainerCgroup::oom_kills() const {
    if (!memory_) {
        return 0;
    }
    const bool v1 = memory_->version == CgroupVersion::v1;
    return keyed_value(
        read_small_file(memory_->path + (v1 ? "/memory.oom_control" : "/memory.events")),
        "oom_kill");
}

void ContainerCgroup::remove() {
    for (const auto& dir : directories_) {
        // The last exiting task may still be leaving the cgroup for a moment.
        for (int attempt = 0; attempt < 200; ++attempt) {
            if (::rmdir(dir.path.c_str()) == 0 || errno != EBUSY) {
                break;
            }
            ::usleep(1000);
        }
    }
    directories_.clear();
    memory_.reset();
}

std::vector<std::string> ContainerCgroup::keep() {
    std::vector<std::string> paths;
    for (const auto& dir : directories_) {
        paths.push_back(dir.path);
    }
    directories_.clear();
    memory_.reset();
    return paths;
}

}  // namespace berth::container
