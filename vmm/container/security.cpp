#include "vmm/container/security.hpp"

#include <cap-ng.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::container {

namespace {

// Docker's default capability set (moby/oci/caps/defaults).
constexpr unsigned default_capabilities[] = {
    CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
    CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
    CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
    CAP_KILL,    CAP_AUDIT_WRITE,
};

bool kept(unsigned cap) {
    for (const unsigned wanted : default_capabilities) {
        if (wanted == cap) {
            return true;
        }
    }
    return false;
}

}  // namespace

void drop_capabilities() {
    // The bounding set first, while CAP_SETPCAP is surely effective: every capability
    // the kernel knows that is not in the default set. PR_CAPBSET_DROP answers EINVAL
    // past the last capability of the running kernel, which ends the loop (libcap-ng
    // would read /proc/PID/status three times to do the same).
    for (unsigned cap = 0; cap < 64; ++cap) {
        if (kept(cap)) {
            continue;
        }
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            if (errno == EINVAL) {
                break;
            }
            throw_errno(fmt::format("cannot drop capability {} from the bounding set", cap), errno);
        }
    }
    // Effective and permitted with libcap-ng: one capset.
    capng_clear(CAPNG_SELECT_CAPS);
    for (const unsigned cap : default_capabilities) {
        if (capng_update(CAPNG_ADD, static_cast<capng_type_t>(CAPNG_EFFECTIVE | CAPNG_PERMITTED),
                         cap) != 0) {
            throw Error(
                fmt::format("cannot add capability {} to the set", capng_capability_to_name(cap)));
        }
    }
    if (capng_apply(CAPNG_SELECT_CAPS) != 0) {
        throw_errno("cannot reduce capabilities to the default set", errno);
    }
}

void switch_user(const UserSpec& user, UserNamespace user_namespace) {
    // setgroups is denied in a rootless user namespace ("deny" in /proc/PID/setgroups),
    // where the only group is ours anyway.
    if (user_namespace == UserNamespace::shared && ::setgroups(0, nullptr) != 0) {
        throw_errno("cannot clear supplementary groups", errno);
    }
    if (::setresgid(user.gid, user.gid, user.gid) != 0) {
        throw_errno(
            fmt::format(
                "cannot switch to group {}{}", user.gid,
                user_namespace == UserNamespace::private_ ? " (only 0 is mapped rootless)" : ""),
            errno);
    }
    if (::setresuid(user.uid, user.uid, user.uid) != 0) {
        throw_errno(
            fmt::format(
                "cannot switch to user {}{}", user.uid,
                user_namespace == UserNamespace::private_ ? " (only 0 is mapped rootless)" : ""),
            errno);
    }
}

void set_no_new_privileges() {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        throw_errno("cannot set no_new_privs", errno);
    }
}

void load_seccomp_program(std::span<const sock_filter> program) {
    sock_fprog header{static_cast<unsigned short>(program.size()),
                      const_cast<sock_filter*>(program.data())};
    if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &header) != 0) {
        throw_errno("cannot load the seccomp filter", errno);
    }
}

}  // namespace berth::container
