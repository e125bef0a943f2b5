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
// Every capability gone: effective, permitted, inheritable, ambient and the bounding
// set, so that none can come back (the VMM's jail, jail.hpp).
void drop_all_capabilities();
// setgroups/setgid/setuid to `user`; in a private user namespace only ids mapped there work.
void switch_user(const UserSpec& user, UserNamespace user_namespace);
void set_no_new_privileges();
// OCI: process.rlimits, in order (before the capabilities go: raising a hard limit
// needs CAP_SYS_RESOURCE); the limit's name in errors.
void set_resource_limits(const std::vector<RunOptions::Rlimit>& limits);
// OCI: process.oomScoreAdj, written to /proc/self/oom_score_adj (lowering it needs
// CAP_SYS_RESOURCE too).
void set_oom_score_adj(int value);
// Both, as the options give them (OCI); nothing for ct run.
void apply_process_limits(const RunOptions& options);
// The default filter (seccomp_profile.hpp) as a classic BPF program, compiled by
// libseccomp when berth was built (the generated default_seccomp.cpp).
std::span<const sock_filter> default_seccomp_program();
// Installs `program` on the calling thread (no_new_privs must be set); `flags` are
// seccomp(2)'s SECCOMP_FILTER_FLAG_*.
void load_seccomp_program(std::span<const sock_filter> program, unsigned flags = 0);

}  // namespace berth::container
