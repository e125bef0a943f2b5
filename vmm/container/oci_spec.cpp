#include "vmm/container/oci_spec.hpp"

#include <array>
#include <limits>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/container/json_node.hpp"

namespace berth::container::oci {

namespace {

using json_node::Node;
using json_node::parse_json;
using nlohmann::json;

constexpr std::array namespace_types{
    std::pair{NamespaceType::pid, "pid"},       std::pair{NamespaceType::network, "network"},
    std::pair{NamespaceType::mount, "mount"},   std::pair{NamespaceType::ipc, "ipc"},
    std::pair{NamespaceType::uts, "uts"},       std::pair{NamespaceType::user, "user"},
    std::pair{NamespaceType::cgroup, "cgroup"}, std::pair{NamespaceType::time, "time"},
};

std::string absolute_path(const Node& node) {
    std::string path = node.string();
    if (path.empty() || path.front() != '/') {
        node.fail(fmt::format("{} is not an absolute path", quote(path)));
    }
    return path;
}

void check_version(const Node& node) {
    const std::string version = node.string();
    // Semantic versioning: the major version is what decides compatibility.
    if (!version.starts_with("1.")) {
        node.fail(
            fmt::format("{} is not a version berth speaks (runtime-spec 1.x)", quote(version)));
    }
}

User parse_user(const Node& node) {
    node.expect_object();
    User user;
    user.uid = node.required("uid").uint32();
    user.gid = node.required("gid").uint32();
    if (auto umask = node.member("umask")) {
        const std::uint32_t mask = umask->uint32();
        if (mask > 0777) {
            umask->fail(fmt::format("{:o} is not a umask (0 to 0777)", mask));
        }
        user.umask = static_cast<mode_t>(mask);
    }
    if (auto gids = node.member("additionalGids")) {
        for (std::size_t i = 0, n = gids->array_size(); i < n; ++i) {
            user.additional_gids.push_back(gids->element(i).uint32());
        }
    }
    return user;
}

Capabilities parse_capabilities(const Node& node) {
    node.expect_object();
    Capabilities caps;
    const auto set = [&](std::string_view key, std::vector<std::string>& into) {
        if (auto list = node.member(key)) {
            into = list->strings();
            for (std::size_t i = 0; i < into.size(); ++i) {
                if (!into[i].starts_with("CAP_")) {
                    list->element(i).fail(
                        fmt::format("{} is not a capability name (CAP_...)", quote(into[i])));
                }
            }
        }
    };
    set("bounding", caps.bounding);
    set("effective", caps.effective);
    set("inheritable", caps.inheritable);
    set("permitted", caps.permitted);
    set("ambient", caps.ambient);
    return caps;
}

Rlimit parse_rlimit(const Node& node) {
    node.expect_object();
    Rlimit limit;
    limit.type = node.required("type").string();
    if (!limit.type.starts_with("RLIMIT_")) {
        node.required("type").fail(
            fmt::format("{} is not a resource limit name (RLIMIT_...)", quote(limit.type)));
    }
    limit.soft = node.required("soft").uint64();
    limit.hard = node.required("hard").uint64();
    if (limit.soft > limit.hard) {
        node.fail("soft is above hard");
    }
    return limit;
}

Process parse_process(const Node& node) {
    node.expect_object();
    Process process;
    process.args = node.required("args").strings(true);
    process.cwd = absolute_path(node.required("cwd"));
    process.user = parse_user(node.required("user"));
    if (auto terminal = node.member("terminal")) {
        process.terminal = terminal->boolean();
    }
    if (auto size = node.member("consoleSize")) {
        size->expect_object();
        // A terminal counts its cells in 16 bits (struct winsize).
        const auto cells = [&](const char* name) {
            const Node value = size->required(name);
            const std::uint32_t count = value.uint32();
            if (count > 0xffff) {
                value.fail("is above 65535 (a terminal's limit)");
            }
            return count;
        };
        process.console_size = ConsoleSize{cells("height"), cells("width")};
    }
    if (auto env = node.member("env")) {
        process.env = env->strings();
        for (std::size_t i = 0; i < process.env.size(); ++i) {
            if (process.env[i].find('=') == std::string::npos) {
                env->element(i).fail(fmt::format("{} is not KEY=VALUE", quote(process.env[i])));
            }
        }
    }
    if (auto caps = node.member("capabilities")) {
        process.capabilities = parse_capabilities(*caps);
    }
    if (auto rlimits = node.member("rlimits")) {
        for (std::size_t i = 0, n = rlimits->array_size(); i < n; ++i) {
            process.rlimits.push_back(parse_rlimit(rlimits->element(i)));
        }
    }
    if (auto no_new_privileges = node.member("noNewPrivileges")) {
        process.no_new_privileges = no_new_privileges->boolean();
    }
    if (auto oom_score_adj = node.member("oomScoreAdj")) {
        const std::int64_t value = oom_score_adj->int64();
        if (value < -1000 || value > 1000) {
            oom_score_adj->fail(fmt::format("{} is outside -1000 to 1000", value));
        }
        process.oom_score_adj = static_cast<int>(value);
    }
    return process;
}

Root parse_root(const Node& node) {
    node.expect_object();
    Root root;
    root.path = node.required("path").string();
    if (root.path.empty()) {
        node.required("path").fail("is empty");
    }
    if (auto readonly = node.member("readonly")) {
        root.readonly = readonly->boolean();
    }
    return root;
}

Mount parse_mount(const Node& node) {
    node.expect_object();
    Mount mount;
    mount.destination = absolute_path(node.required("destination"));
    if (auto type = node.member("type")) {
        mount.type = type->string();
    }
    if (auto source = node.member("source")) {
        mount.source = source->string();
    }
    if (auto options = node.member("options")) {
        mount.options = options->strings();
    }
    return mount;
}

Namespace parse_namespace(const Node& node) {
    node.expect_object();
    const Node type = node.required("type");
    const std::string name = type.string();
    Namespace result;
    bool known = false;
    std::string names;
    for (const auto& [kind, kind_name] : namespace_types) {
        if (name == kind_name) {
            result.type = kind;
            known = true;
        }
        names += names.empty() ? kind_name : fmt::format(", {}", kind_name);
    }
    if (!known) {
        type.fail(fmt::format("unknown namespace type {} (known: {})", quote(name), names));
    }
    if (auto path = node.member("path")) {
        result.path = absolute_path(*path);
    }
    return result;
}

// A blockIO weight: 10 to 1000, or 0 for none (what runc's callers write for "unset").
std::optional<std::uint16_t> parse_weight(const Node& node) {
    const std::uint32_t weight = node.uint32();
    if (weight == 0) {
        return std::nullopt;
    }
    if (weight < 10 || weight > 1000) {
        node.fail(fmt::format("{} is not a block I/O weight (10 to 1000)", weight));
    }
    return static_cast<std::uint16_t>(weight);
}

DeviceNumber parse_device(const Node& node) {
    return {node.required("major").int64(), node.required("minor").int64()};
}

BlockIoLimits parse_block_io(const Node& node) {
    node.expect_object();
    BlockIoLimits limits;
    if (auto weight = node.member("weight")) {
        limits.weight = parse_weight(*weight);
    }
    if (auto weight = node.member("leafWeight")) {
        limits.leaf_weight = parse_weight(*weight);
    }
    if (auto devices = node.member("weightDevice")) {
        for (std::size_t i = 0, n = devices->array_size(); i < n; ++i) {
            const Node item = devices->element(i).expect_object();
            DeviceWeight entry{parse_device(item), std::nullopt, std::nullopt};
            if (auto weight = item.member("weight")) {
                entry.weight = parse_weight(*weight);
            }
            if (auto weight = item.member("leafWeight")) {
                entry.leaf_weight = parse_weight(*weight);
            }
            limits.weight_devices.push_back(entry);
        }
    }
    const std::pair<std::string_view, std::vector<DeviceRate>*> throttles[] = {
        {"throttleReadBpsDevice", &limits.read_bps},
        {"throttleWriteBpsDevice", &limits.write_bps},
        {"throttleReadIOPSDevice", &limits.read_iops},
        {"throttleWriteIOPSDevice", &limits.write_iops},
    };
    for (const auto& [key, rates] : throttles) {
        if (auto devices = node.member(key)) {
            for (std::size_t i = 0, n = devices->array_size(); i < n; ++i) {
                const Node item = devices->element(i).expect_object();
                rates->push_back({parse_device(item), item.required("rate").uint64()});
            }
        }
    }
    return limits;
}

// A major or minor number of a device: -1 (any, rules only) up to the kernel's limits.
std::int64_t device_number(const Node& node, std::int64_t limit, bool any_allowed) {
    const std::int64_t number = node.int64();
    if (number > limit || number < (any_allowed ? -1 : 0)) {
        node.fail(fmt::format("{} is outside {} to {}", number, any_allowed ? -1 : 0, limit));
    }
    return number;
}

DeviceRule parse_device_rule(const Node& node) {
    node.expect_object();
    DeviceRule rule;
    rule.allow = node.required("allow").boolean();
    if (auto type = node.member("type")) {
        const std::string text = type->string();
        if (text != "a" && text != "c" && text != "b") {
            type->fail(fmt::format("{} is not a device rule type (a, c or b)", quote(text)));
        }
        rule.type = text.front();
    }
    if (auto major = node.member("major")) {
        rule.major = device_number(*major, 4095, true);
    }
    if (auto minor = node.member("minor")) {
        rule.minor = device_number(*minor, 1048575, true);
    }
    if (auto access = node.member("access")) {
        rule.access = access->string();
        if (rule.access.find_first_not_of("rwm") != std::string::npos) {
            access->fail(fmt::format("{} is not an access of r, w and m", quote(rule.access)));
        }
        if (rule.access.empty()) {
            access->fail("is empty (give r, w and m, or leave it out for all three)");
        }
    }
    return rule;
}

Device parse_linux_device(const Node& node) {
    node.expect_object();
    Device device;
    device.path = absolute_path(node.required("path"));
    const Node type = node.required("type");
    const std::string text = type.string();
    if (text != "c" && text != "u" && text != "b" && text != "p") {
        type.fail(fmt::format("{} is not a device type (c, u, b or p)", quote(text)));
    }
    device.type = text.front() == 'u' ? 'c' : text.front();
    if (device.type != 'p') {
        device.major = device_number(node.required("major"), 4095, false);
        device.minor = device_number(node.required("minor"), 1048575, false);
    }
    if (auto mode = node.member("fileMode")) {
        device.file_mode = mode->uint32();
        if (*device.file_mode > 07777) {
            mode->fail(fmt::format("{:o} is not a file mode (0 to 07777)", *device.file_mode));
        }
    }
    if (auto uid = node.member("uid")) {
        device.uid = uid->uint32();
    }
    if (auto gid = node.member("gid")) {
        device.gid = gid->uint32();
    }
    return device;
}

std::vector<IdMapping> parse_id_mappings(const Node& node) {
    std::vector<IdMapping> mappings;
    for (std::size_t i = 0, n = node.array_size(); i < n; ++i) {
        const Node item = node.element(i).expect_object();
        IdMapping mapping{item.required("containerID").uint32(), item.required("hostID").uint32(),
                          item.required("size").uint32()};
        if (mapping.size == 0) {
            item.required("size").fail("must be more than 0");
        }
        mappings.push_back(mapping);
    }
    return mappings;
}

// linux.timeOffsets: {"monotonic": {"secs": -3600, "nanosecs": 0}, "boottime": {...}}, the
// two clocks a time namespace can shift (time_namespaces(7)).
TimeOffsets parse_time_offsets(const Node& node) {
    node.expect_object();
    TimeOffsets offsets;
    for (const auto& [key, value] : node.value().items()) {
        const Node clock = node.required(key).expect_object();
        ClockOffset offset;
        if (auto secs = clock.member("secs")) {
            offset.secs = secs->int64();
        }
        if (auto nanosecs = clock.member("nanosecs")) {
            offset.nanosecs = nanosecs->uint32();
            if (offset.nanosecs >= 1000000000) {
                nanosecs->fail("must be below 1000000000 (one second)");
            }
        }
        if (key == "monotonic") {
            offsets.monotonic = offset;
        } else if (key == "boottime") {
            offsets.boottime = offset;
        } else {
            clock.fail("is not a clock a time namespace offsets (monotonic, boottime)");
        }
    }
    return offsets;
}

Resources parse_resources(const Node& node) {
    node.expect_object();
    Resources resources;
    if (auto memory = node.member("memory")) {
        if (auto limit = memory->expect_object().member("limit")) {
            resources.memory_limit = limit->int64();
        }
    }
    if (auto pids = node.member("pids")) {
        resources.pids_limit = pids->expect_object().required("limit").int64();
    }
    if (auto cpu = node.member("cpu")) {
        cpu->expect_object();
        if (auto quota = cpu->member("quota")) {
            resources.cpu_quota = quota->int64();
        }
        if (auto period = cpu->member("period")) {
            resources.cpu_period = period->uint64();
            if (*resources.cpu_period == 0) {
                period->fail("must be more than 0");
            }
        }
    }
    if (auto block_io = node.member("blockIO")) {
        resources.block_io = parse_block_io(*block_io);
    }
    if (auto hugepages = node.member("hugepageLimits")) {
        for (std::size_t i = 0, n = hugepages->array_size(); i < n; ++i) {
            const Node item = hugepages->element(i).expect_object();
            resources.hugepage_limits.push_back(
                {item.required("pageSize").string(), item.required("limit").uint64()});
        }
    }
    if (auto devices = node.member("devices")) {
        for (std::size_t i = 0, n = devices->array_size(); i < n; ++i) {
            resources.devices.push_back(parse_device_rule(devices->element(i)));
        }
    }
    return resources;
}

SeccompRule parse_seccomp_rule(const Node& node) {
    node.expect_object();
    SeccompRule rule;
    rule.names = node.required("names").strings(true);
    rule.action = node.required("action").string();
    if (auto errno_ret = node.member("errnoRet")) {
        rule.errno_ret = errno_ret->uint32();
    }
    if (auto args = node.member("args")) {
        for (std::size_t i = 0, n = args->array_size(); i < n; ++i) {
            const Node item = args->element(i).expect_object();
            SeccompArg arg;
            const Node index = item.required("index");
            arg.index = index.uint32();
            if (arg.index > 5) {
                index.fail(fmt::format("{} is not a system call argument (0 to 5)", arg.index));
            }
            arg.value = item.required("value").uint64();
            if (auto value_two = item.member("valueTwo")) {
                arg.value_two = value_two->uint64();
            }
            arg.op = item.required("op").string();
            rule.args.push_back(std::move(arg));
        }
    }
    return rule;
}

Seccomp parse_seccomp(const Node& node) {
    node.expect_object();
    Seccomp seccomp;
    seccomp.default_action = node.required("defaultAction").string();
    if (auto errno_ret = node.member("defaultErrnoRet")) {
        seccomp.default_errno_ret = errno_ret->uint32();
    }
    if (auto architectures = node.member("architectures")) {
        seccomp.architectures = architectures->strings();
    }
    if (auto flags = node.member("flags")) {
        seccomp.flags = flags->strings();
    }
    if (auto listener = node.member("listenerPath")) {
        seccomp.listener_path = listener->string();
    }
    if (auto syscalls = node.member("syscalls")) {
        for (std::size_t i = 0, n = syscalls->array_size(); i < n; ++i) {
            seccomp.syscalls.push_back(parse_seccomp_rule(syscalls->element(i)));
        }
    }
    return seccomp;
}

void parse_linux(const Node& node, Spec& spec) {
    node.expect_object();
    if (auto namespaces = node.member("namespaces")) {
        for (std::size_t i = 0, n = namespaces->array_size(); i < n; ++i) {
            const Node item = namespaces->element(i);
            Namespace ns = parse_namespace(item);
            for (const auto& seen : spec.namespaces) {
                if (seen.type == ns.type) {
                    item.fail(fmt::format("namespace {} is listed twice", name_of(ns.type)));
                }
            }
            spec.namespaces.push_back(std::move(ns));
        }
    }
    if (auto resources = node.member("resources")) {
        spec.resources = parse_resources(*resources);
    }
    if (auto path = node.member("cgroupsPath")) {
        spec.cgroups_path = path->string();
    }
    if (auto masked = node.member("maskedPaths")) {
        spec.masked_paths = masked->strings();
    }
    if (auto readonly = node.member("readonlyPaths")) {
        spec.readonly_paths = readonly->strings();
    }
    if (auto mappings = node.member("uidMappings")) {
        spec.uid_mappings = parse_id_mappings(*mappings);
    }
    if (auto mappings = node.member("gidMappings")) {
        spec.gid_mappings = parse_id_mappings(*mappings);
    }
    if (auto offsets = node.member("timeOffsets")) {
        spec.time_offsets = parse_time_offsets(*offsets);
    }
    if (auto propagation = node.member("rootfsPropagation")) {
        spec.rootfs_propagation = propagation->string();
    }
    if (auto devices = node.member("devices")) {
        for (std::size_t i = 0, n = devices->array_size(); i < n; ++i) {
            spec.devices.push_back(parse_linux_device(devices->element(i)));
        }
    }
    if (auto seccomp = node.member("seccomp")) {
        spec.seccomp = parse_seccomp(*seccomp);
    }
    if (auto sysctl = node.member("sysctl")) {
        sysctl->expect_object();
        for (const auto& [key, value] : sysctl->value().items()) {
            spec.sysctl[key] = sysctl->required(key).string();
        }
    }
}

std::vector<Hook> parse_hook_list(const Node& node) {
    std::vector<Hook> hooks;
    for (std::size_t i = 0, n = node.array_size(); i < n; ++i) {
        const Node item = node.element(i).expect_object();
        Hook hook;
        hook.path = absolute_path(item.required("path"));
        if (auto args = item.member("args")) {
            hook.args = args->strings();
        }
        if (auto env = item.member("env")) {
            hook.env = env->strings();
        }
        if (auto timeout = item.member("timeout")) {
            hook.timeout = timeout->uint32();
            if (*hook.timeout == 0) {
                timeout->fail("must be more than 0 (seconds)");
            }
        }
        hooks.push_back(std::move(hook));
    }
    return hooks;
}

Hooks parse_hooks(const Node& node) {
    node.expect_object();
    Hooks hooks;
    for (const auto& [name, list] : hook_stages(hooks)) {
        if (auto stage = node.member(name)) {
            *list = parse_hook_list(*stage);
        }
    }
    return hooks;
}

}  // namespace

const char* name_of(NamespaceType type) {
    for (const auto& [kind, name] : namespace_types) {
        if (kind == type) {
            return name;
        }
    }
    return "?";
}

Process parse_process_document(std::string_view json_text) {
    const json document = parse_json(json_text);
    return parse_process(Node(document, ""));
}

Resources parse_resources_document(std::string_view json_text) {
    const json document = parse_json(json_text);
    return parse_resources(Node(document, ""));
}

Spec parse_spec(std::string_view json_text) {
    const json document = parse_json(json_text);
    const Node top = Node(document, "").expect_object();
    Spec spec;
    const Node version = top.required("ociVersion");
    check_version(version);
    spec.oci_version = version.string();
    if (auto process = top.member("process")) {
        spec.process = parse_process(*process);
    }
    spec.root = parse_root(top.required("root"));
    if (auto hostname = top.member("hostname")) {
        spec.hostname = hostname->string();
    }
    if (auto domainname = top.member("domainname")) {
        spec.domainname = domainname->string();
        // The kernel's limit (__NEW_UTS_LEN): a longer one would fail only in init.
        if (spec.domainname.size() > 64) {
            domainname->fail("is longer than 64 bytes");
        }
    }
    if (auto mounts = top.member("mounts")) {
        for (std::size_t i = 0, n = mounts->array_size(); i < n; ++i) {
            spec.mounts.push_back(parse_mount(mounts->element(i)));
        }
    }
    if (auto linux_node = top.member("linux")) {
        parse_linux(*linux_node, spec);
    }
    if (auto hooks = top.member("hooks")) {
        spec.hooks = parse_hooks(*hooks);
    }
    if (auto annotations = top.member("annotations")) {
        annotations->expect_object();
        for (const auto& [key, value] : annotations->value().items()) {
            spec.annotations[key] = annotations->required(key).string();
        }
    }
    return spec;
}

Spec load_spec(const std::string& bundle) {
    std::vector<std::uint8_t> bytes;
    try {
        // A config.json is a few KiB; a huge one is a mistake, not something to read.
        bytes =
            read_input_file(std::filesystem::path(bundle) / "config.json", "config.json", 16 << 20);
    } catch (const Error& e) {
        throw e.with_context(fmt::format("bundle {}", quote(bundle)));
    }
    try {
        return parse_spec(
            std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    } catch (const Error& e) {
        throw e.with_context("config.json");
    }
}

}  // namespace berth::container::oci
