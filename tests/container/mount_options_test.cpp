#include <sys/mount.h>

#include <catch2/catch.hpp>

#include "vmm/common/error.hpp"
#include "vmm/container/mount_options.hpp"

using namespace berth::container;

namespace {

std::string refusal(std::string_view type, const std::vector<std::string>& options) {
    try {
        parse_mount_options(type, options, "mounts[3]");
    } catch (const berth::Error& e) {
        CHECK(e.status() == berth::ExitStatus::bad_input);
        return e.what();
    }
    return "accepted";
}

}  // namespace

TEST_CASE("mount options: podman's and containerd's defaults", "[container][oci]") {
    const MountOptions dev = parse_mount_options(
        "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}, "mounts[1]");
    CHECK(dev.flags == (MS_NOSUID | MS_STRICTATIME));
    CHECK(dev.data == "mode=755,size=65536k");
    CHECK_FALSE(dev.bind);
    const MountOptions pts = parse_mount_options(
        "devpts", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
        "mounts[2]");
    CHECK(pts.flags == (MS_NOSUID | MS_NOEXEC));
    CHECK(pts.data == "newinstance,ptmxmode=0666,mode=0620,gid=5");
    const MountOptions cgroup = parse_mount_options(
        "cgroup", {"rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"}, "mounts[6]");
    CHECK(cgroup.flags == (MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME | MS_RDONLY));
    CHECK(cgroup.propagation == (MS_PRIVATE | MS_REC));
    CHECK(cgroup.data.empty());
    const MountOptions shm =
        parse_mount_options("tmpfs", {"uid=1000", "gid=1000", "size=50%", "mode=1777"}, "m");
    CHECK(shm.data == "uid=1000,gid=1000,size=50%,mode=1777");
    // podman's --tmpfs: tmpcopyup is berth's to do, not the kernel's.
    const MountOptions tmp = parse_mount_options(
        "tmpfs", {"rw", "rprivate", "noexec", "nosuid", "nodev", "tmpcopyup", "size=1m"}, "m");
    CHECK(tmp.copy_up);
    CHECK(tmp.data == "size=1m");
    CHECK_FALSE(parse_mount_options("tmpfs", {"tmpcopyup", "notmpcopyup"}, "m").copy_up);
}

TEST_CASE("mount options: binds, their flags and propagation", "[container][oci]") {
    const MountOptions bind =
        parse_mount_options("bind", {"rbind", "ro", "nosuid", "rslave"}, "mounts[0]");
    CHECK(bind.bind);
    CHECK(bind.recursive);
    CHECK(bind.flags == (MS_RDONLY | MS_NOSUID));
    CHECK(bind.propagation == (MS_SLAVE | MS_REC));
    // No type, a bind option: a bind (podman's /etc/hosts has type "bind", runc spec's none).
    const MountOptions untyped = parse_mount_options("", {"bind", "rw", "dev", "exec"}, "m");
    CHECK(untyped.bind);
    CHECK_FALSE(untyped.recursive);
    CHECK(untyped.flags == 0);
    CHECK(untyped.cleared == (MS_RDONLY | MS_NODEV | MS_NOEXEC));
    // A later option wins over an earlier one.
    CHECK(parse_mount_options("bind", {"ro", "rw"}, "m").flags == 0);
    CHECK(parse_mount_options("none", {"bind", "private"}, "m").propagation == MS_PRIVATE);
    CHECK(propagation_flags("runbindable") == (MS_UNBINDABLE | MS_REC));
    CHECK(propagation_flags("bogus") == 0);
}

TEST_CASE("mount options: unknown and malformed ones are refused by name", "[container][oci]") {
    CHECK(refusal("tmpfs", {"nosuid", "foo"}) ==
          "mounts[3].options[1]: unknown option 'foo' for a tmpfs mount");
    CHECK(refusal("bind", {"size=1m"}) ==
          "mounts[3].options[0]: unknown option 'size=1m' for a bind mount");
    CHECK(refusal("tmpfs", {"mode=999"}) ==
          "mounts[3].options[0]: 'mode=999' wants an octal mode like 755");
    CHECK(refusal("tmpfs", {"size=lots"}) ==
          "mounts[3].options[0]: 'size=lots' wants a size like 65536k, 64m or 50%");
    CHECK(refusal("devpts", {"newinstance=1"}) ==
          "mounts[3].options[0]: 'newinstance=1' wants no value");
    CHECK(refusal("devpts", {"gid"}) == "mounts[3].options[0]: 'gid' wants gid=a number");
    CHECK(refusal("proc", {"hidepid=7"}) ==
          "mounts[3].options[0]: 'hidepid=7' wants 0,1,2,off,noaccess,invisible,ptraceable");
    CHECK(refusal("tmpfs", {"remount"}) ==
          "mounts[3].options[0]: 'remount' is not supported by berth yet");
    CHECK(refusal("bind", {"tmpcopyup"}) ==
          "mounts[3].options[0]: 'tmpcopyup' is for tmpfs mounts only");
    CHECK(refusal("nfs", {}) ==
          "mounts[3].type: 'nfs' is not a mount type berth applies (bind, tmpfs, proc, sysfs, "
          "devpts, mqueue, cgroup, cgroup2)");
    CHECK(refusal("", {"ro"}) ==
          "mounts[3].type: is missing (and no bind or rbind option makes it a bind mount)");
    CHECK(refusal("tmpfs", {"bind"}) ==
          "mounts[3].type: 'tmpfs' with a bind option; a bind mount's type is bind or none");
    // One line whatever the option holds.
    CHECK(refusal("tmpfs", {"a\nb"}).find('\n') == std::string::npos);
}
