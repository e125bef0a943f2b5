#include "vmm/container/cgroup_freezer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::container {

namespace {

bool has_file(const std::string& path) {
    return ::access(path.c_str(), F_OK) == 0;
}

bool is_v1(const std::string& dir) {
    return has_file(dir + "/freezer.state");
}

std::string read_text(const std::string& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

void write_text(const std::string& path, std::string_view value) {
    const UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd ||
        ::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
        throw_errno(fmt::format("cannot write {} to {}", quote(value), quote(path)), errno);
    }
}

}  // namespace

std::string freezer_directory(const std::vector<std::string>& cgroups) {
    for (const auto& dir : cgroups) {
        if (is_v1(dir)) {
            return dir;
        }
    }
    for (const auto& dir : cgroups) {
        if (has_file(dir + "/cgroup.freeze")) {
            return dir;
        }
    }
    return {};
}

bool is_frozen(const std::string& dir) {
    if (is_v1(dir)) {
        return read_text(dir + "/freezer.state").starts_with("FROZEN");
    }
    std::istringstream events(read_text(dir + "/cgroup.events"));
    std::string key;
    int value = 0;
    while (events >> key >> value) {
        if (key == "frozen") {
            return value == 1;
        }
    }
    return false;
}

void set_frozen(const std::string& dir, bool frozen) {
    const bool v1 = is_v1(dir);
    const std::string file = dir + (v1 ? "/freezer.state" : "/cgroup.freeze");
    const std::string_view value = v1 ? (frozen ? "FROZEN" : "THAWED") : (frozen ? "1" : "0");
    // v1 may stay FREEZING while a task is busy in the kernel; writing again retries.
    for (int attempt = 0; attempt < 500; ++attempt) {
        write_text(file, value);
        if (is_frozen(dir) == frozen) {
            return;
        }
        ::usleep(10000);
    }
    throw Error(fmt::format("cgroup {} did not become {} within 5 s", quote(dir),
                            frozen ? "frozen" : "thawed"));
}

}  // namespace berth::container
