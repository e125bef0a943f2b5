#pragma once
// The last steps before the command runs, in this order: capabilities cut to Docker's
// default set or the ones an OCI config names (bounding set included, so they cannot
// come back), the user switched,
// no_new_privs set, and a seccomp filter that answers EPERM to the system calls
// Docker's default profile denies. Each throws Error naming the step.

#include <linux/filter.h>

#include <optional>
#include <span>

#include "vmm/container/run_options.hpp"

namespace berth::container {

enum class UserNamespace { shared, private_ };

// Capabilities cut to `sets` (Docker's default set in all three when unset), then the
// user switched; with `sets` given (OCI) the user keeps them, as with runc.
void drop_privileges(const std::optional<CapabilitySets>& sets, const UserSpec& user,
                     UserNamespace user_namespace);
// setgroups/setgid/setuid to `user`; in a private user namespace only ids mapped there work.
void switch_user(const UserSpec& user, UserNamespace user_namespace);
void set_no_new_privileges();
// The default filter (seccomp_profile.hpp) as a classic BPF program, compiled by
// libseccomp when berth was built (the generated default_seccomp.cpp).
std::span<const sock_filter> default_seccomp_program();
// Installs `program` on the calling thread (no_new_privs must be set).
void load_seccomp_program(std::span<const sock_filter> program);

}  // namespace berth::container
