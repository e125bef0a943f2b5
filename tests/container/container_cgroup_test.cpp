#include <catch2/catch.hpp>

#include "vmm/container/cgroup_layout.hpp"
#include "vmm/container/container_cgroup.hpp"

using namespace berth::container;

namespace {

// The hybrid host berth is developed on: cpu, memory, pids on v1, hugetlb on v2.
const char* hybrid_mountinfo =
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

std::vector<std::string> hugetlb_only(const std::string&) {
    return {"hugetlb"};
}
std::vector<std::string> v2_all(const std::string&) {
    return {"cpu", "memory", "pids", "io"};
}

}  // namespace

TEST_CASE("/proc/self/cgroup lines parse into controllers and paths", "[container][cgroup]") {
    const auto entries =
        parse_proc_cgroup("9:name=systemd:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/x\n0::/\n");
    REQUIRE(entries.size() == 4);
    CHECK(entries[1].controllers == std::vector<std::string>{"memory"});
    CHECK(entries[1].path == "/process_api/abc");
    CHECK(entries[2].controllers == std::vector<std::string>{"cpu", "cpuacct"});
    CHECK(entries[3].controllers.empty());
    CHECK(entries[3].path == "/");
}

TEST_CASE("each controller resolves to the caller's own, possibly nested, cgroup",
          "[container][cgroup]") {
    const auto layout = parse_cgroup_layout(hybrid_mountinfo, hugetlb_only);
    const auto self =
        parse_proc_cgroup("9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n");
    CHECK(controller_directory(layout, self, "memory") == "/sys/fs/cgroup/memory/process_api/abc");
    CHECK(controller_directory(layout, self, "pids") == "/sys/fs/cgroup/pids");
    CHECK(controller_directory(layout, self, "cpu") == "/sys/fs/cgroup/cpu");
    CHECK(controller_directory(layout, self, "hugetlb") == "/sys/fs/cgroup/unified");
    CHECK(controller_directory(layout, self, "io").empty());
}

TEST_CASE("on pure v2 every controller lives under the single 0:: path", "[container][cgroup]") {
    const auto layout = parse_cgroup_layout(
        "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n", v2_all);
    const auto self = parse_proc_cgroup("0::/user.slice/session-1.scope\n");
    CHECK(controller_directory(layout, self, "memory") ==
          "/sys/fs/cgroup/user.slice/session-1.scope");
    CHECK(controller_directory(layout, self, "pids") ==
          "/sys/fs/cgroup/user.slice/session-1.scope");
    CHECK(controller_directory(layout, self, "freezer").empty());
}
