#pragma once
// clone3 into namespaces that are joined, not made: an OCI config's linux.namespaces
// with a path for user, mount, pid or time. Those must be entered before the
// container's init exists: a pid or time namespace is only ever entered by a new child
// (setns sets the one for children), the namespaces clone3 makes belong to the user
// namespace of the process that calls it, and init's mounts must be made in the joined
// mount namespace from the start (as runc does). berth itself must not enter them (it
// could not come back out of a user namespace, and it may have threads), so a short-lived
// helper does: it joins them in order (user first, which gives it the capabilities it
// needs for the others), then makes init with CLONE_PARENT, so that init is berth's
// child as with clone_container, and exits.
//
// A new time namespace (OCI linux.namespaces "time" without a path) goes the same way:
// its clock offsets can be written only before its first process enters it, and clone3's
// CLONE_NEWTIME puts init in at once. So the helper unshares CLONE_NEWTIME, which makes
// the namespace its children are born in (not its own), writes the offsets to
// /proc/self/timens_offsets, and then makes init, the namespace's first process
// (time_namespaces(7)).

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace berth::container {

// A namespace to enter: its descriptor (from open(2) of the path) and CLONE_NEW* type.
struct NamespaceToJoin {
    int fd = -1;
    int type = 0;
    std::string path;  // for errors
};

// A new time namespace for init and the lines for its timens_offsets ("monotonic -5 0\n";
// empty: no offset).
struct NewTimeNamespace {
    std::string offsets;
};

// Like clone_container: 0 in the child (init), its pid in berth. `joins` in the order to
// enter them, then `new_time`. Throws Error naming the namespace the kernel refused to
// enter; offsets the kernel refuses (a clock taken below zero) are bad input.
pid_t clone_into_joined(std::uint64_t flags, const std::vector<NamespaceToJoin>& joins,
                        const std::optional<NewTimeNamespace>& new_time = std::nullopt);

}  // namespace berth::container
