#include "vmm/container/run_options.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/parse_number.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/size.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/exit_status.hpp"
#include "vmm/net/bridge_network.hpp"

namespace berth::container {

namespace {

constexpr const char* default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// What init cannot build a container on: the host's own root (pivot_root into it fails
// with EBUSY, and it would be the host's files anyway), and a /proc, /sys or /dev that
// is not a folder: init mounts onto them before the pivot, and a mount follows a
// symlink, so "proc -> /somewhere" would mount over a host folder (or, as a file, leave
// the container without /proc).
void check_rootfs(int root, const std::function<std::string()>& where) {
    struct stat info {};
    struct stat host_root {};
    if (::fstat(root, &info) == 0 && ::stat("/", &host_root) == 0 &&
        info.st_dev == host_root.st_dev && info.st_ino == host_root.st_ino) {
        throw bad_input(
            fmt::format("{} is the host's own root folder; give a folder that holds "
                        "the container's files (images/busybox-rootfs.sh makes one)",
                        where()));
    }
    for (const char* name : {"proc", "sys", "dev"}) {
        if (::fstatat(root, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(info.st_mode)) {
            throw bad_input(fmt::format(
                "{}: /{} is {}; berth mounts the container's /{} there, so it must be a folder "
                "or absent (remove it from the rootfs)",
                where(), name, S_ISLNK(info.st_mode) ? "a symlink" : "not a folder", name));
        }
    }
}

}  // namespace

net::Ipv4Cidr parse_bridge_ip(std::string_view text) {
    const net::Ipv4Cidr cidr = net::parse_cidr(text, "--ip");
    const net::Ipv4Cidr bridge{net::bridge_network, net::bridge_prefix};
    if (!net::default_bridge().is_host_address(cidr)) {
        throw bad_input(fmt::format(
            "--ip {} must be a host address in the berth0 bridge network {} (like 10.88.0.5/16; "
            "{} is the gateway)",
            quote(text), bridge.text(), net::ipv4_text(net::bridge_gateway)));
    }
    return cidr;
}

UserSpec parse_user(std::string_view text) {
    UserSpec user;
    const auto colon = text.find(':');
    const auto uid_text = text.substr(0, colon);
    bool ok = parse_whole_number(uid_text, user.uid);
    if (colon == std::string_view::npos) {
        user.gid = user.uid;
    } else {
        ok = ok && parse_whole_number(text.substr(colon + 1), user.gid);
    }
    if (!ok || user.uid == static_cast<uid_t>(-1) || user.gid == static_cast<gid_t>(-1)) {
        throw bad_input(fmt::format("--user {} is not UID or UID:GID in numbers (like 1000:1000)",
                                    quote(text)));
    }
    return user;
}

std::string parse_env(std::string_view text) {
    const auto equals = text.find('=');
    bool ok = equals != std::string_view::npos && equals > 0;
    for (std::size_t i = 0; ok && i < equals; ++i) {
        const char c = text[i];
        ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    }
    if (!ok || std::isdigit(static_cast<unsigned char>(text[0]))) {
        throw bad_input(fmt::format(
            "--env {} is not KEY=VALUE with a name of letters, digits and _", quote(text)));
    }
    return std::string(text);
}

// Read as a decimal (digits, a point, digits) straight into microseconds of quota:
// exact, and no floating point: the only other user of libm in berth's start path
// was this one parse, and every loaded library costs start-up time and resident pages.
std::uint32_t parse_cpus(std::string_view text) {
    const auto dot = text.find('.');
    const std::string_view whole = text.substr(0, dot);
    const std::string_view fraction =
        dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
    std::uint64_t cpus = 0;
    bool ok = !(whole.empty() && fraction.empty()) &&
              (whole.empty() || parse_whole_number(whole, cpus)) && cpus <= 1024;
    // Millionths of a CPU from the first six fraction digits; later digits (below a
    // microsecond of quota) must still be digits but are dropped.
    std::uint64_t millionths = 0;
    for (std::size_t i = 0; ok && i < fraction.size(); ++i) {
        ok = std::isdigit(static_cast<unsigned char>(fraction[i])) != 0;
        if (i < 6) {
            millionths = millionths * 10 + static_cast<std::uint64_t>(fraction[i] - '0');
        }
    }
    for (std::size_t i = fraction.size(); i < 6; ++i) {
        millionths *= 10;
    }
    const std::uint64_t quota =
        cpus * cpu_period_us + (millionths * cpu_period_us + 500'000) / 1'000'000;
    // The kernel's smallest quota is 1 ms per period: 0.01 CPU.
    if (!ok || quota < cpu_period_us / 100 || quota > std::uint64_t{1024} * cpu_period_us) {
        throw bad_input(fmt::format(
            "--cpus {} is not a number of CPUs from 0.01 to 1024 (like 0.5)", quote(text)));
    }
    return static_cast<std::uint32_t>(quota);
}

std::uint64_t parse_pids(std::string_view text) {
    std::uint64_t pids = 0;
    // Two at least: our init and the command.
    if (!parse_whole_number(text, pids) || pids < 2 || pids > 4194304) {
        throw bad_input(
            fmt::format("--pids {} is not a process count from 2 to 4194304", quote(text)));
    }
    return pids;
}

std::uint64_t parse_memory(std::string_view text) {
    const std::uint64_t bytes = parse_size(text, "--memory");
    if (bytes < (4ULL << 20)) {
        throw bad_input(
            fmt::format("--memory {} is below the 4 MiB a container needs to start", quote(text)));
    }
    return bytes;
}

NetMode parse_net_mode(std::string_view text) {
    if (text == "none") {
        return NetMode::none;
    }
    if (text == "host") {
        return NetMode::host;
    }
    if (text == "bridge") {
        return NetMode::bridge;
    }
    throw bad_input(fmt::format("--net {} is not one of none, host, bridge", quote(text)));
}

void check_name(std::string_view name, std::string_view what) {
    bool ok = !name.empty() && name.size() <= 63 && name.front() != '-' && name.front() != '.';
    for (const char c : name) {
        ok =
            ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
    }
    if (!ok) {
        throw bad_input(fmt::format("{} {} must be 1 to 63 letters, digits, '-', '_' or '.'", what,
                                    quote(name)));
    }
}

std::vector<std::string> container_environment(const RunOptions& options) {
    if (options.env_as_given) {
        return options.env;
    }
    std::vector<std::string> env = {
        std::string("PATH=") + default_path,
        "HOSTNAME=" + (options.hostname.empty() ? std::string("berth") : options.hostname),
        options.user.uid == 0 ? "HOME=/root" : "HOME=/",
    };
    if (options.tty) {
        env.emplace_back("TERM=xterm");
    }
    for (const auto& entry : options.env) {
        const auto key = entry.substr(0, entry.find('=') + 1);
        std::erase_if(env, [&](const std::string& old) { return old.starts_with(key); });
        env.push_back(entry);
    }
    return env;
}

std::string environment_path(const std::vector<std::string>& env) {
    for (const auto& entry : env) {
        if (entry.starts_with("PATH=")) {
            return entry.substr(5);
        }
    }
    return default_path;
}

std::string resolve_command(const std::string& rootfs, const std::string& command,
                            const std::vector<std::string>& env, std::string shown_as) {
    const std::function<std::string()> where = [&] {
        return shown_as.empty() ? fmt::format("rootfs {}", quote(rootfs)) : shown_as;
    };
    UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) {
        const int err = errno;
        throw bad_input(fmt::format("{} {}", where(),
                                    err == ENOTDIR  ? "is not a directory"
                                    : err == ENOENT ? "does not exist"
                                                    : std::strerror(err)));
    }
    check_rootfs(root.get(), where);
    if (command.empty()) {
        throw bad_input("the command to run is empty");
    }
    // RESOLVE_IN_ROOT makes "/bin/true -> /bin/busybox" resolve in the rootfs, not on the host.
    enum class Found { nothing, not_executable, executable };
    const auto look_up = [&](const std::string& path) {
        open_how how{};
        how.flags = O_PATH | O_CLOEXEC;
        how.resolve = RESOLVE_IN_ROOT;
        UniqueFd file(
            static_cast<int>(::syscall(SYS_openat2, root.get(), path.c_str(), &how, sizeof how)));
        struct stat info {};
        if (!file || ::fstat(file.get(), &info) != 0) {
            return Found::nothing;
        }
        return S_ISREG(info.st_mode) && (info.st_mode & 0111) != 0 ? Found::executable
                                                                   : Found::not_executable;
    };
    // Statuses as podman's: 127 for a command that is not there, 126 for one that is
    // but cannot be executed (exit_status.hpp).
    if (command.find('/') != std::string::npos) {
        switch (look_up(command)) {
            case Found::executable:
                return command;
            case Found::not_executable:
                throw Error(fmt::format("command {} in {} is not an executable file; make it one "
                                        "(chmod +x) or run it with its interpreter",
                                        quote(command), where()),
                            command_not_executable);
            case Found::nothing:
                break;
        }
        throw Error(fmt::format("command {} is not found in {}", quote(command), where()),
                    command_not_found);
    }
    const std::string path = environment_path(env);
    std::size_t start = 0;
    while (start <= path.size()) {
        auto end = path.find(':', start);
        if (end == std::string::npos) {
            end = path.size();
        }
        const std::string dir = path.substr(start, end - start);
        const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + command;
        if (look_up(candidate) == Found::executable) {
            return candidate;
        }
        start = end + 1;
    }
    throw Error(fmt::format("command {} is not found in {} (searched PATH={})", quote(command),
                            where(), quote(path)),
                command_not_found);
}

}  // namespace berth::container
