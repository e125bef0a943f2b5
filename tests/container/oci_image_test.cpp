#include <catch2/catch.hpp>

#include "vmm/common/error.hpp"
#include "vmm/container/oci_image_run.hpp"

using namespace berth::container;

namespace {

constexpr const char* passwd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# a comment\n"
    "app:x:1000:1001::/home/app:/bin/sh\n"
    "daemon:x:2:2::/:/bin/false\n";
constexpr const char* group =
    "root:x:0:\n"
    "appgroup:x:1001:\n"
    "audio:x:29:app,daemon\n"
    "video:x:44:daemon\n"
    "staff:x:50:\n";

void expect_bad_user(const char* user, const char* said) {
    try {
        resolve_image_user(user, passwd, group);
        FAIL("accepted " << user);
    } catch (const berth::Error& e) {
        CHECK(e.status() == berth::ExitStatus::bad_input);
        CHECK_THAT(e.what(), Catch::Contains(said));
    }
}

}  // namespace

TEST_CASE("an image's User: a name takes its uid, primary group and member groups", "[container]") {
    const auto user = resolve_image_user("app", passwd, group);
    CHECK(user.uid == 1000);
    CHECK(user.gid == 1001);
    CHECK(user.additional_gids == std::vector<gid_t>{29});
}

TEST_CASE("an image's User: numbers, with or without a passwd entry", "[container]") {
    const auto known = resolve_image_user("2", passwd, group);
    CHECK(known.uid == 2);
    CHECK(known.gid == 2);
    CHECK(known.additional_gids == std::vector<gid_t>{29, 44});
    // Not in /etc/passwd (or no /etc/passwd at all): group 0, as docker and podman do.
    const auto unknown = resolve_image_user("4242", "", "");
    CHECK(unknown.uid == 4242);
    CHECK(unknown.gid == 0);
    CHECK(unknown.additional_gids.empty());
}

TEST_CASE("an image's User: an explicit group by name or number", "[container]") {
    const auto by_name = resolve_image_user("app:staff", passwd, group);
    CHECK(by_name.uid == 1000);
    CHECK(by_name.gid == 50);
    const auto by_number = resolve_image_user("1000:7", passwd, group);
    CHECK(by_number.gid == 7);
}

TEST_CASE("an image's User that the image does not have is bad input naming it", "[container]") {
    expect_bad_user("nobody-here", "no user 'nobody-here'");
    expect_bad_user("app:nogroup", "no group 'nogroup'");
    expect_bad_user("app:", "is not USER or USER:GROUP");
    expect_bad_user(":staff", "is not USER or USER:GROUP");
}
