#include "vmm/container/security.hpp"

#include <cap-ng.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/resource_limits.hpp"

namespace berth::container {

namespace {

// Docker's default capability set (moby/oci/caps/defaults).
constexpr unsigned default_capabilities[] = {
    CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
    CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
    CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
    CAP_KILL,    CAP_AUDIT_WRITE,
};

constexpr std::uint64_t mask_of(unsigned cap) {
    return std::uint64_t{1} << cap;
}

std::uint64_t default_mask() {
    std::uint64_t mask = 0;
    for (const unsigned cap : default_capabilities) {
        mask |= mask_of(cap);
    }
    return mask;
}

// Every capability the kernel knows that is not in `keep` leaves the bounding set
// (CAP_SETPCAP must still be effective). PR_CAPBSET_DROP answers EINVAL past the last
// capability of the running kernel, which ends the loop (libcap-ng would read
// /proc/PID/status three times to do the same).
void limit_bounding_set(std::uint64_t keep) {
    for (unsigned cap = 0; cap < 64; ++cap) {
        if ((keep & mask_of(cap)) != 0) {
            continue;
        }
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            if (errno == EINVAL) {
                break;
            }
            throw_errno(fmt::format("cannot drop capability {} from the bounding set", cap), errno);
        }
    }
}

// Effective, permitted and inheritable with libcap-ng: one capset.
void set_capabilities(const CapabilitySets& sets) {
    capng_clear(CAPNG_SELECT_CAPS);
    for (unsigned cap = 0; cap < 64; ++cap) {
        const int types = ((sets.effective & mask_of(cap)) != 0 ? CAPNG_EFFECTIVE : 0) |
                          ((sets.permitted & mask_of(cap)) != 0 ? CAPNG_PERMITTED : 0) |
                          ((sets.inheritable & mask_of(cap)) != 0 ? CAPNG_INHERITABLE : 0);
        if (types != 0 && capng_update(CAPNG_ADD, static_cast<capng_type_t>(types), cap) != 0) {
            throw Error(
                fmt::format("cannot add capability {} to the set", capng_capability_to_name(cap)));
        }
    }
    if (capng_apply(CAPNG_SELECT_CAPS) != 0) {
        throw_errno("cannot reduce the capabilities", errno);
    }
}

// Ambient capabilities survive execve of an unprivileged program. The kernel takes one
// only when it is permitted and inheritable already; runc's own `runc spec` lists
// ambient capabilities without an inheritable set, and runc skips what the kernel
// refuses, so berth does the same for those (any other failure is an error).
void raise_ambient(const CapabilitySets& sets) {
    for (unsigned cap = 0; cap < 64; ++cap) {
        if ((sets.ambient & mask_of(cap)) == 0) {
            continue;
        }
        const bool allowed =
            (sets.inheritable & mask_of(cap)) != 0 && (sets.permitted & mask_of(cap)) != 0;
        if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0 &&
            (allowed || errno != EPERM)) {
            throw_errno(
                fmt::format("cannot raise ambient capability {}", capng_capability_to_name(cap)),
                errno);
        }
    }
}

}  // namespace

void drop_privileges(const std::optional<CapabilitySets>& sets, const UserSpec& user,
                     UserNamespace user_namespace) {
    if (!sets) {
        // ct run: Docker's default set, which a switch to a user other than 0 then
        // clears, as it does without keepcaps.
        const std::uint64_t defaults = default_mask();
        limit_bounding_set(defaults);
        set_capabilities(CapabilitySets{defaults, defaults, defaults});
        switch_user(user, user_namespace);
        return;
    }
    // OCI: the config's sets whatever the user, as runc gives them; the user is switched
    // while init still has CAP_SETUID and CAP_SETGID, keeping the permitted set across
    // it (keepcaps; execve clears the flag).
    limit_bounding_set(sets->bounding);
    if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
        throw_errno("cannot keep capabilities across the user switch", errno);
    }
    switch_user(user, user_namespace);
    set_capabilities(*sets);
    raise_ambient(*sets);
}

void drop_all_capabilities() {
    limit_bounding_set(0);
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
        throw_errno("cannot clear the ambient capabilities", errno);
    }
    set_capabilities(CapabilitySets{});
}

void switch_user(const UserSpec& user, UserNamespace user_namespace) {
    // setgroups is denied in a rootless user namespace ("deny" in /proc/PID/setgroups),
    // where the only group is ours anyway.
    if (user_namespace == UserNamespace::shared &&
        ::setgroups(user.additional_gids.size(), user.additional_gids.data()) != 0) {
        throw_errno("cannot set the supplementary groups", errno);
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

void set_resource_limits(const std::vector<RunOptions::Rlimit>& limits) {
    for (const auto& limit : limits) {
        const rlimit value{limit.soft, limit.hard};
        if (::setrlimit(static_cast<__rlimit_resource>(limit.resource), &value) != 0) {
            const int err = errno;
            throw_errno(fmt::format("cannot set process.rlimits {} to soft {} hard {}{}",
                                    rlimit_name(limit.resource), limit.soft, limit.hard,
                                    err == EPERM ? " (above the hard limit berth has: raising "
                                                   "it needs CAP_SYS_RESOURCE)"
                                                 : ""),
                        err);
        }
    }
}

void set_oom_score_adj(int value) {
    UniqueFd file(::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC));
    const std::string text = std::to_string(value);
    if (!file ||
        ::write(file.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        throw_errno(fmt::format("cannot set process.oomScoreAdj to {}", value), errno);
    }
}

void apply_process_limits(const RunOptions& options) {
    set_resource_limits(options.rlimits);
    if (options.oom_score_adj) {
        set_oom_score_adj(*options.oom_score_adj);
    }
}

void load_seccomp_program(std::span<const sock_filter> program, unsigned flags) {
    sock_fprog header{static_cast<unsigned short>(program.size()),
                      const_cast<sock_filter*>(program.data())};
    if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &header) != 0) {
        throw_errno("cannot load the seccomp filter", errno);
    }
}

}  // namespace berth::container
