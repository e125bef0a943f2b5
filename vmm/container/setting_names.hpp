#pragma once
// What an error calls a setting of a container: the way its user asked for it. `berth ct
// run` takes flags ("--memory"); an OCI container comes from config.json, whose fields
// errors name by their JSON path ("linux.resources.memory.limit"); `berth exec` has
// flags of its own for some. The one code path that starts both kinds of container
// carries these names with the settings (RunOptions::shown_as, CgroupLimits::shown_as)
// and never spells a flag itself.

namespace berth::container {

struct SettingNames {
    const char* name = "--name";  // what names the container (and its cgroups)
    const char* rootfs = "--rootfs";
    const char* workdir = "--workdir";
    const char* user = "--user";
    const char* memory = "--memory";
    const char* pids = "--pids";
    const char* cpus = "--cpus";
};

// An OCI container's: config.json's fields, and the container ID its caller gave.
inline constexpr SettingNames config_json_names{
    .name = "container ID",
    .rootfs = "root.path",
    .workdir = "process.cwd",
    .user = "process.user",
    .memory = "linux.resources.memory.limit",
    .pids = "linux.resources.pids.limit",
    .cpus = "linux.resources.cpu.quota",
};

}  // namespace berth::container
