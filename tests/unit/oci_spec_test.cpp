#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "vmm/common/error.hpp"
#include "vmm/container/oci_spec.hpp"
#include "vmm/container/seccomp_config.hpp"

using namespace berth::container::oci;

namespace {

// A runc-spec-like config with `extra` spliced in at the top level (later keys win).
std::string config(const std::string& extra = "") {
    return R"({
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": false,
    "user": {"uid": 1000, "gid": 100, "additionalGids": [5, 6]},
    "args": ["sh", "-c", "echo hi"],
    "env": ["PATH=/bin", "TERM=xterm"],
    "cwd": "/tmp",
    "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL", "CAP_CHOWN"]},
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "box",
  "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
             {"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind", "ro"]}],
  "annotations": {"org.example.key": "value"},
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/netns/x"}, {"type": "mount"}],
    "resources": {"memory": {"limit": 67108864}, "pids": {"limit": 64},
                  "cpu": {"quota": 50000, "period": 100000}},
    "cgroupsPath": "/berth/x",
    "maskedPaths": ["/proc/kcore"],
    "readonlyPaths": ["/proc/sys"]
  })" + extra +
           "}";
}

// The parse error's text for a config whose `pointer` member is replaced by `value`.
std::string error_with(const std::string& pointer, const std::string& value) {
    auto document = nlohmann::json::parse(config());
    const nlohmann::json::json_pointer where(pointer);
    if (value == "DELETE") {
        document[where.parent_pointer()].erase(where.back());
    } else {
        document[where] = nlohmann::json::parse(value);
    }
    try {
        parse_spec(document.dump());
    } catch (const berth::Error& e) {
        CHECK(e.status() == berth::ExitStatus::bad_input);
        return e.what();
    }
    FAIL("accepted " << pointer << " = " << value);
    return {};
}

}  // namespace

TEST_CASE("config.json parses into the typed spec", "[container][oci]") {
    const Spec spec = parse_spec(config());
    CHECK(spec.oci_version == "1.0.2-dev");
    REQUIRE(spec.process);
    const Process& process = *spec.process;
    CHECK(process.args == std::vector<std::string>{"sh", "-c", "echo hi"});
    CHECK(process.env == std::vector<std::string>{"PATH=/bin", "TERM=xterm"});
    CHECK(process.cwd == "/tmp");
    CHECK(process.user.uid == 1000);
    CHECK(process.user.gid == 100);
    CHECK(process.user.additional_gids == std::vector<gid_t>{5, 6});
    CHECK_FALSE(process.terminal);
    REQUIRE(process.capabilities);
    CHECK(process.capabilities->bounding == std::vector<std::string>{"CAP_KILL"});
    CHECK(process.capabilities->effective.size() == 2);
    REQUIRE(process.rlimits.size() == 1);
    CHECK(process.rlimits[0].type == "RLIMIT_NOFILE");
    CHECK(process.rlimits[0].soft == 512);
    CHECK(process.rlimits[0].hard == 1024);
    CHECK(process.no_new_privileges);
    CHECK(spec.root.path == "rootfs");
    CHECK(spec.root.readonly);
    CHECK(spec.hostname == "box");
    REQUIRE(spec.mounts.size() == 2);
    CHECK(spec.mounts[1].destination == "/data");
    CHECK(spec.mounts[1].options == std::vector<std::string>{"rbind", "ro"});
    REQUIRE(spec.namespaces.size() == 3);
    CHECK(spec.namespaces[1].type == NamespaceType::network);
    CHECK(spec.namespaces[1].path == "/run/netns/x");
    CHECK(spec.resources.memory_limit == 67108864);
    CHECK(spec.resources.pids_limit == 64);
    CHECK(spec.resources.cpu_quota == 50000);
    CHECK(spec.resources.cpu_period == 100000u);
    CHECK(spec.cgroups_path == "/berth/x");
    CHECK(spec.masked_paths == std::vector<std::string>{"/proc/kcore"});
    CHECK(spec.readonly_paths == std::vector<std::string>{"/proc/sys"});
    CHECK(spec.annotations.at("org.example.key") == "value");
}

TEST_CASE("config.json: only ociVersion and root are required", "[container][oci]") {
    const Spec spec = parse_spec(R"({"ociVersion": "1.1.0", "root": {"path": "/r"}, "x": 1})");
    CHECK_FALSE(spec.process);
    CHECK(spec.root.path == "/r");
    CHECK_FALSE(spec.root.readonly);
    CHECK(spec.namespaces.empty());
    CHECK_FALSE(spec.resources.memory_limit);
}

TEST_CASE("config.json errors name the JSON path and what is wrong", "[container][oci]") {
    struct Case {
        const char* pointer;
        const char* value;
        const char* message;
    };
    const Case cases[] = {
        {"/ociVersion", "\"2.0.0\"",
         "ociVersion: '2.0.0' is not a version berth speaks (runtime-spec 1.x)"},
        {"/ociVersion", "DELETE", "ociVersion: is missing"},
        {"/ociVersion", "1", "ociVersion: expected a string"},
        {"/process/args", "[]", "process.args: expected a non-empty array of strings"},
        {"/process/args", "[\"sh\", 1]", "process.args: expected a non-empty array of strings"},
        {"/process/args", "DELETE", "process.args: is missing"},
        {"/process/cwd", "\"tmp\"", "process.cwd: 'tmp' is not an absolute path"},
        {"/process/env/1", "\"NOEQUALS\"", "process.env[1]: 'NOEQUALS' is not KEY=VALUE"},
        {"/process/user/uid", "-1", "process.user.uid: expected an integer of 0 or more"},
        {"/process/user/gid", "4294967296",
         "process.user.gid: expected an integer from 0 to 4294967295"},
        {"/process/user/additionalGids/1", "\"x\"",
         "process.user.additionalGids[1]: expected an integer of 0 or more"},
        {"/process/terminal", "\"yes\"", "process.terminal: expected true or false"},
        {"/process/capabilities/effective/0", "\"KILL\"",
         "process.capabilities.effective[0]: 'KILL' is not a capability name (CAP_...)"},
        {"/process/rlimits/0/type", "\"NOFILE\"",
         "process.rlimits[0].type: 'NOFILE' is not a resource limit name (RLIMIT_...)"},
        {"/process/rlimits/0/soft", "2048", "process.rlimits[0]: soft is above hard"},
        {"/process/noNewPrivileges", "1", "process.noNewPrivileges: expected true or false"},
        {"/process/oomScoreAdj", "1001", "process.oomScoreAdj: 1001 is outside -1000 to 1000"},
        {"/process/user/umask", "512", "process.user.umask: 1000 is not a umask (0 to 0777)"},
        {"/linux/seccomp", "{\"syscalls\": []}", "linux.seccomp.defaultAction: is missing"},
        {"/linux/seccomp",
         "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"getpid\"], "
         "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 6, \"value\": 1, \"op\": "
         "\"SCMP_CMP_EQ\"}]}]}",
         "linux.seccomp.syscalls[0].args[0].index: 6 is not a system call argument (0 to 5)"},
        {"/linux/seccomp",
         "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [], "
         "\"action\": \"SCMP_ACT_ERRNO\"}]}",
         "linux.seccomp.syscalls[0].names: expected a non-empty array of strings"},
        {"/linux/sysctl", "{\"net.ipv4.ip_forward\": 1}",
         "linux.sysctl.net.ipv4.ip_forward: expected a string"},
        {"/hooks", "{\"prestart\": [{\"path\": \"hook\"}]}",
         "hooks.prestart[0].path: 'hook' is not an absolute path"},
        {"/hooks", "{\"poststop\": [{\"path\": \"/bin/true\", \"timeout\": 0}]}",
         "hooks.poststop[0].timeout: must be more than 0 (seconds)"},
        {"/process", "[]", "process: expected an object"},
        {"/root", "DELETE", "root: is missing"},
        {"/root/path", "\"\"", "root.path: is empty"},
        {"/hostname", "7", "hostname: expected a string"},
        {"/mounts/1/destination", "\"data\"",
         "mounts[1].destination: 'data' is not an absolute path"},
        {"/mounts/0/options", "\"ro\"", "mounts[0].options: expected an array of strings"},
        {"/linux/namespaces/2/type", "\"bogus\"",
         "linux.namespaces[2].type: unknown namespace type 'bogus' (known: pid, network, mount, "
         "ipc, uts, user, cgroup, time)"},
        {"/linux/namespaces/2/type", "\"pid\"",
         "linux.namespaces[2]: namespace pid is listed twice"},
        {"/linux/namespaces", "{}", "linux.namespaces: expected an array"},
        {"/linux/resources/memory/limit", "\"64M\"",
         "linux.resources.memory.limit: expected an integer"},
        {"/linux/resources/pids", "{}", "linux.resources.pids.limit: is missing"},
        {"/linux/resources/cpu/period", "0", "linux.resources.cpu.period: must be more than 0"},
        {"/linux/cgroupsPath", "[]", "linux.cgroupsPath: expected a string"},
        {"/linux/maskedPaths", "[1]", "linux.maskedPaths: expected an array of strings"},
        {"/linux/devices", "[{\"path\": \"/dev/x\", \"type\": \"q\", \"major\": 1, \"minor\": 3}]",
         "linux.devices[0].type: 'q' is not a device type (c, u, b or p)"},
        {"/linux/devices", "[{\"path\": \"/dev/x\", \"type\": \"c\", \"minor\": 3}]",
         "linux.devices[0].major: is missing"},
        {"/linux/devices", "[{\"path\": \"dev/x\", \"type\": \"p\"}]",
         "linux.devices[0].path: 'dev/x' is not an absolute path"},
        {"/linux/devices",
         "[{\"path\": \"/dev/x\", \"type\": \"c\", \"major\": 1, \"minor\": 3, \"fileMode\": "
         "8192}]",
         "linux.devices[0].fileMode: 20000 is not a file mode (0 to 07777)"},
        {"/linux/devices", "[{\"path\": \"/dev/x\", \"type\": \"b\", \"major\": -1, \"minor\": 0}]",
         "linux.devices[0].major: -1 is outside 0 to 4095"},
        {"/linux/resources/devices", "[{\"allow\": true, \"type\": \"x\"}]",
         "linux.resources.devices[0].type: 'x' is not a device rule type (a, c or b)"},
        {"/linux/resources/devices", "[{\"allow\": false, \"access\": \"rwx\"}]",
         "linux.resources.devices[0].access: 'rwx' is not an access of r, w and m"},
        {"/linux/resources/devices", "[{\"type\": \"c\"}]",
         "linux.resources.devices[0].allow: is missing"},
        {"/linux/uidMappings", "[{\"containerID\": 0, \"hostID\": 1000}]",
         "linux.uidMappings[0].size: is missing"},
        {"/linux/gidMappings", "[{\"containerID\": -1, \"hostID\": 1000, \"size\": 1}]",
         "linux.gidMappings[0].containerID: expected an integer of 0 or more"},
        {"/annotations/org.example.key", "1", "annotations.org.example.key: expected a string"},
    };
    for (const auto& c : cases) {
        INFO(c.pointer << " = " << c.value);
        CHECK(error_with(c.pointer, c.value) == c.message);
    }
}

TEST_CASE("config.json that is not JSON, or not an object", "[container][oci]") {
    for (const char* text : {"", "{", "{\"ociVersion\": \"1.0.0\",}", "[1]", "\"x\""}) {
        INFO(text);
        try {
            parse_spec(text);
            FAIL("accepted");
        } catch (const berth::Error& e) {
            CHECK(e.status() == berth::ExitStatus::bad_input);
            const std::string what = e.what();
            CHECK((what.starts_with("not valid JSON: ") ||
                   what == "(top level): expected an object"));
            CHECK(what.find('\n') == std::string::npos);
        }
    }
}

TEST_CASE("a process object alone (berth exec --process)", "[container][oci]") {
    const Process process = parse_process_document(
        R"({"args": ["id", "-u"], "cwd": "/srv", "user": {"uid": 33, "gid": 34},
            "env": ["A=1"], "terminal": true})");
    CHECK(process.args == std::vector<std::string>{"id", "-u"});
    CHECK(process.cwd == "/srv");
    CHECK(process.user.uid == 33);
    CHECK(process.user.gid == 34);
    CHECK(process.env == std::vector<std::string>{"A=1"});
    CHECK(process.terminal);

    const struct {
        const char* text;
        const char* message;
    } cases[] = {
        {R"({"args": "sh", "cwd": "/", "user": {"uid": 0, "gid": 0}})",
         "args: expected a non-empty array of strings"},
        {R"({"args": ["sh"], "user": {"uid": 0, "gid": 0}})", "cwd: is missing"},
        {R"({"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["NOEQUALS"]})",
         "env[0]: 'NOEQUALS' is not KEY=VALUE"},
        {"[]", "(top level): expected an object"},
    };
    for (const auto& c : cases) {
        INFO(c.text);
        try {
            parse_process_document(c.text);
            FAIL("accepted");
        } catch (const berth::Error& e) {
            CHECK(e.status() == berth::ExitStatus::bad_input);
            CHECK(std::string(e.what()) == c.message);
        }
    }
    CHECK_THROWS_AS(parse_process_document("{"), berth::Error);
}

TEST_CASE("linux.seccomp, hooks and sysctl parse; the filter compiles", "[container][oci]") {
    const Spec spec = parse_spec(config(R"(,
  "hooks": {"createRuntime": [{"path": "/bin/hook", "args": ["hook", "a"], "env": ["K=V"],
                               "timeout": 5}]},
  "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}],
            "sysctl": {"net.ipv4.ip_forward": "1"},
            "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
                        "architectures": ["SCMP_ARCH_X86_64"],
                        "syscalls": [{"names": ["getpid", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                                     {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28,
                                      "args": [{"index": 1, "value": 56, "valueTwo": 56,
                                                "op": "SCMP_CMP_MASKED_EQ"}]}]}})"));
    REQUIRE(spec.hooks.create_runtime.size() == 1);
    CHECK(spec.hooks.create_runtime[0].args == std::vector<std::string>{"hook", "a"});
    CHECK(spec.hooks.create_runtime[0].timeout == 5U);
    CHECK(spec.sysctl.at("net.ipv4.ip_forward") == "1");
    REQUIRE(spec.seccomp);
    CHECK(spec.seccomp->default_errno_ret == 38U);
    REQUIRE(spec.seccomp->syscalls.size() == 2);
    CHECK(spec.seccomp->syscalls[1].args[0].value_two == 56);
    // An unknown name is skipped; the program is there.
    CHECK(!compile_seccomp(*spec.seccomp).program.empty());

    Seccomp bad = *spec.seccomp;
    bad.syscalls[0].action = "SCMP_ACT_MAYBE";
    try {
        compile_seccomp(bad);
        FAIL("accepted an unknown action");
    } catch (const berth::Error& e) {
        CHECK(e.status() == berth::ExitStatus::bad_input);
        CHECK(std::string(e.what()).starts_with(
            "linux.seccomp.syscalls[0].action: 'SCMP_ACT_MAYBE' is not a seccomp action"));
    }
}

TEST_CASE("linux.timeOffsets: monotonic and boottime, each secs and nanosecs", "[container][oci]") {
    const Spec spec = parse_spec(config(R"(, "linux": {"namespaces": [{"type": "time"}],
        "timeOffsets": {"monotonic": {"secs": -60, "nanosecs": 5}, "boottime": {"secs": 86400}}})"));
    REQUIRE(spec.time_offsets);
    REQUIRE(spec.time_offsets->monotonic);
    CHECK(spec.time_offsets->monotonic->secs == -60);
    CHECK(spec.time_offsets->monotonic->nanosecs == 5);
    REQUIRE(spec.time_offsets->boottime);
    CHECK(spec.time_offsets->boottime->secs == 86400);
    CHECK(spec.time_offsets->boottime->nanosecs == 0);
    CHECK_FALSE(parse_spec(config()).time_offsets);

    struct Case {
        const char* offsets;
        const char* message;
    };
    const Case cases[] = {
        {R"([])", "linux.timeOffsets: expected an object"},
        {R"({"realtime": {"secs": 1}})",
         "linux.timeOffsets.realtime: is not a clock a time namespace offsets (monotonic, "
         "boottime)"},
        {R"({"boottime": 5})", "linux.timeOffsets.boottime: expected an object"},
        {R"({"boottime": {"secs": "5"}})", "linux.timeOffsets.boottime.secs: expected an integer"},
        {R"({"monotonic": {"nanosecs": 1000000000}})",
         "linux.timeOffsets.monotonic.nanosecs: must be below 1000000000 (one second)"},
        {R"({"monotonic": {"nanosecs": -1}})",
         "linux.timeOffsets.monotonic.nanosecs: expected an integer of 0 or more"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.offsets);
        try {
            parse_spec(config(std::string(R"(, "linux": {"timeOffsets": )") + c.offsets + "}"));
            FAIL("accepted");
        } catch (const berth::Error& e) {
            CHECK(e.status() == berth::ExitStatus::bad_input);
            CHECK(std::string(e.what()) == c.message);
        }
    }
}
