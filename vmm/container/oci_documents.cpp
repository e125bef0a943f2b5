#include "vmm/container/oci_documents.hpp"

#include <linux/capability.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <filesystem>

#include <cap-ng.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/container/mount_options.hpp"
#include "vmm/container/oci_spec.hpp"

namespace berth::container::oci {

namespace {

using nlohmann::json;

// "CAP_CHOWN" ... for every capability libcap-ng and the kernel headers know.
json capability_names() {
    json names = json::array();
    for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
        const char* name = capng_capability_to_name(static_cast<unsigned int>(cap));
        if (name == nullptr) {
            continue;
        }
        std::string upper = "CAP_";
        for (const char* c = name; *c != '\0'; ++c) {
            upper += static_cast<char>(std::toupper(static_cast<unsigned char>(*c)));
        }
        names.push_back(upper);
    }
    return names;
}

}  // namespace

std::string features_json() {
    const json document = {
        {"ociVersionMin", "1.0.0"},
        {"ociVersionMax", std::string(spec_version)},
        // config.json's hooks berth runs (oci_hooks.hpp).
        {"hooks",
         {"prestart", "createRuntime", "createContainer", "startContainer", "poststart",
          "poststop"}},
        // The generic options of config.json's mounts (each filesystem's own, like
        // tmpfs's size=, are checked by name too: mount_options.hpp).
        {"mountOptions", generic_mount_options()},
        {"linux",
         {
             {"namespaces", {"pid", "network", "ipc", "uts", "mount", "cgroup", "user", "time"}},
             {"capabilities", capability_names()},
             {"cgroup", {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false}}},
             // linux.seccomp, compiled by libseccomp (seccomp_config.hpp).
             {"seccomp",
              {{"enabled", true},
               {"actions",
                {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD",
                 "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG"}},
               {"operators",
                {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                 "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"}},
               {"archs", {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"}},
               {"knownFlags",
                {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                 "SECCOMP_FILTER_FLAG_SPEC_ALLOW"}},
               {"supportedFlags",
                {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                 "SECCOMP_FILTER_FLAG_SPEC_ALLOW"}}}},
             {"apparmor", {{"enabled", false}}},
             {"selinux", {{"enabled", false}}},
         }},
    };
    return document.dump(4);
}

std::string default_spec_json() {
    const json capabilities = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
    const json document = {
        {"ociVersion", std::string(spec_version)},
        {"process",
         {
             {"terminal", true},
             {"user", {{"uid", 0}, {"gid", 0}}},
             {"args", {"sh"}},
             {"env",
              {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
             {"cwd", "/"},
             {"capabilities",
              {{"bounding", capabilities},
               {"effective", capabilities},
               {"permitted", capabilities}}},
             {"noNewPrivileges", true},
         }},
        {"root", {{"path", "rootfs"}, {"readonly", true}}},
        {"hostname", "berth"},
        // runc spec's list: berth mounts each as given (and its own /proc, /sys, /dev,
        // /dev/pts and /dev/shm where a config has none of them).
        {"mounts",
         {
             {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
             {{"destination", "/dev"},
              {"type", "tmpfs"},
              {"source", "tmpfs"},
              {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
             {{"destination", "/dev/pts"},
              {"type", "devpts"},
              {"source", "devpts"},
              {"options",
               {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
             {{"destination", "/dev/shm"},
              {"type", "tmpfs"},
              {"source", "shm"},
              {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
             {{"destination", "/sys"},
              {"type", "sysfs"},
              {"source", "sysfs"},
              {"options", {"nosuid", "noexec", "nodev", "ro"}}},
             {{"destination", "/dev/mqueue"},
              {"type", "mqueue"},
              {"source", "mqueue"},
              {"options", {"nosuid", "noexec", "nodev"}}},
             {{"destination", "/sys/fs/cgroup"},
              {"type", "cgroup"},
              {"source", "cgroup"},
              {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}},
         }},
        {"linux",
         {
             {"namespaces",
              {{{"type", "pid"}},
               {{"type", "network"}},
               {{"type", "ipc"}},
               {{"type", "uts"}},
               {{"type", "mount"}},
               {{"type", "cgroup"}}}},
             {"maskedPaths",
              {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
               "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
               "/proc/scsi"}},
             {"readonlyPaths",
              {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
         }},
    };
    return document.dump(4) + "\n";
}

void write_default_spec(const std::string& bundle) {
    const std::string path = (std::filesystem::path(bundle) / "config.json").string();
    if (::access(path.c_str(), F_OK) == 0) {
        throw bad_input(fmt::format("{} exists; remove it first (berth spec never overwrites one)",
                                    quote(path)));
    }
    if (!std::filesystem::is_directory(bundle)) {
        throw bad_input(fmt::format("--bundle {} is not a directory", quote(bundle)));
    }
    OutputFile file = OutputFile::create(path, "config.json");
    file.write(default_spec_json());
    file.commit();
}

}  // namespace berth::container::oci
