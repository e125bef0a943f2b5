#include "vmm/container/resource_limits.hpp"

#include <sys/resource.h>

#include <array>
#include <utility>

namespace berth::container {

namespace {

constexpr std::array limits{
    std::pair{RLIMIT_AS, "RLIMIT_AS"},
    std::pair{RLIMIT_CORE, "RLIMIT_CORE"},
    std::pair{RLIMIT_CPU, "RLIMIT_CPU"},
    std::pair{RLIMIT_DATA, "RLIMIT_DATA"},
    std::pair{RLIMIT_FSIZE, "RLIMIT_FSIZE"},
    std::pair{RLIMIT_LOCKS, "RLIMIT_LOCKS"},
    std::pair{RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"},
    std::pair{RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"},
    std::pair{RLIMIT_NICE, "RLIMIT_NICE"},
    std::pair{RLIMIT_NOFILE, "RLIMIT_NOFILE"},
    std::pair{RLIMIT_NPROC, "RLIMIT_NPROC"},
    std::pair{RLIMIT_RSS, "RLIMIT_RSS"},
    std::pair{RLIMIT_RTPRIO, "RLIMIT_RTPRIO"},
    std::pair{RLIMIT_RTTIME, "RLIMIT_RTTIME"},
    std::pair{RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"},
    std::pair{RLIMIT_STACK, "RLIMIT_STACK"},
};

}  // namespace

std::optional<int> rlimit_resource(std::string_view name) {
    for (const auto& [resource, known] : limits) {
        if (name == known) {
            return static_cast<int>(resource);
        }
    }
    return std::nullopt;
}

const char* rlimit_name(int resource) {
    for (const auto& [known, name] : limits) {
        if (static_cast<int>(known) == resource) {
            return name;
        }
    }
    return "RLIMIT_?";
}

std::string rlimit_names() {
    std::string names;
    for (const auto& [resource, name] : limits) {
        names += names.empty() ? name : std::string(", ") + name;
    }
    return names;
}

}  // namespace berth::container
