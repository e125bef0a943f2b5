#include "vmm/container/namespace_probe.hpp"

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace berth::container {

const std::vector<NamespaceKind>& namespace_kinds() {
    static const std::vector<NamespaceKind> kinds = {
        {"user", CLONE_NEWUSER},     {"pid", CLONE_NEWPID},   {"mnt", CLONE_NEWNS},
        {"uts", CLONE_NEWUTS},       {"ipc", CLONE_NEWIPC},   {"net", CLONE_NEWNET},
        {"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME},
    };
    return kinds;
}

std::vector<NamespaceProbe> probe_namespaces() {
    std::vector<NamespaceProbe> results;
    for (const auto& kind : namespace_kinds()) {
        // A child does the unshare so that berth itself stays in its namespaces.
        const pid_t child = ::fork();
        if (child == 0) {
            ::_exit(::unshare(kind.clone_flag) == 0 ? 0 : (errno & 0x7f));
        }
        int error = errno;
        if (child > 0) {
            int status = 0;
            while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
            }
            error = WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
        }
        results.push_back({kind.name, error});
    }
    return results;
}

}  // namespace berth::container
