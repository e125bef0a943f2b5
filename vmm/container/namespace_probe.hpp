#pragma once
// Which kinds of Linux namespace this process may create, found by trying: a child
// process calls unshare(2) for each kind and reports success or errno.

#include <string>
#include <vector>

namespace berth::container {

struct NamespaceKind {
    const char* name;  // as in /proc/PID/ns: "user", "pid", "mnt", ...
    int clone_flag;    // CLONE_NEWUSER, ...
};

const std::vector<NamespaceKind>& namespace_kinds();

struct NamespaceProbe {
    std::string name;
    int error = 0;  // 0 when the namespace could be created, otherwise errno
};

std::vector<NamespaceProbe> probe_namespaces();

}  // namespace berth::container
