#include <catch2/catch.hpp>

#include "vmm/container/cgroup_layout.hpp"

using berth::container::CgroupLayout;
using berth::container::CgroupVersion;
using berth::container::parse_cgroup_layout;

namespace {

std::vector<std::string> hugetlb_only(const std::string&) {
    return {"hugetlb"};
}
std::vector<std::string> all_v2(const std::string&) {
    return {"cpu", "memory", "pids"};
}

// Lines as this project's development hosts print them (a hybrid layout).
constexpr const char* hybrid_mountinfo =
    "30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "33 30 0:29 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "34 30 0:30 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "35 30 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

}  // namespace

TEST_CASE("cgroup layout: hybrid hosts put controllers in v1", "[cgroup]") {
    const auto layout = parse_cgroup_layout(hybrid_mountinfo, hugetlb_only);
    CHECK(layout.kind() == CgroupLayout::Kind::hybrid);
    REQUIRE(layout.find("memory") != nullptr);
    CHECK(layout.find("memory")->version == CgroupVersion::v1);
    CHECK(layout.find("memory")->mount_point == "/sys/fs/cgroup/memory");
    CHECK(layout.find("hugetlb")->version == CgroupVersion::v2);
    CHECK(layout.find("systemd") == nullptr);  // named hierarchy, no controller
    CHECK(layout.find("io") == nullptr);
    CHECK(layout.describe() ==
          "hybrid: v1 holds cpu, memory, pids; v2 at /sys/fs/cgroup/unified holds hugetlb");
}

TEST_CASE("cgroup layout: unified hosts are v2", "[cgroup]") {
    const auto layout = parse_cgroup_layout(
        "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n", all_v2);
    CHECK(layout.kind() == CgroupLayout::Kind::v2);
    CHECK(layout.find("pids")->mount_point == "/sys/fs/cgroup");
}

TEST_CASE("cgroup layout: garbage lines are skipped", "[cgroup]") {
    const auto layout = parse_cgroup_layout("\n- cgroup\nshort line\n", all_v2);
    CHECK(layout.kind() == CgroupLayout::Kind::none);
}
