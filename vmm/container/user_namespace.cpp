#include "vmm/container/user_namespace.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::container {

namespace {

void write_proc_file(pid_t pid, const char* name, const std::string& text) {
    const std::string path = fmt::format("/proc/{}/{}", pid, name);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        throw_errno(fmt::format("cannot write {}", path), errno);
    }
}

}  // namespace

void map_caller_to_root(pid_t pid) {
    write_proc_file(pid, "setgroups", "deny");
    write_proc_file(pid, "uid_map", fmt::format("0 {} 1", ::geteuid()));
    write_proc_file(pid, "gid_map", fmt::format("0 {} 1", ::getegid()));
}

void write_id_maps(pid_t pid, const std::string& uid_map, const std::string& gid_map) {
    write_proc_file(pid, "uid_map", uid_map);
    write_proc_file(pid, "gid_map", gid_map);
}

}  // namespace berth::container
