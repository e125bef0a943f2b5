#include "vmm/container/namespace_probe.hpp"

#include <sched.h>
#include <unistd.h>

#include <cerrno>

#include "vmm/common/process.hpp"

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
            // The errno is below 128; a child that died of a signal did not say.
            const int status = ChildProcess(child).wait();
            error = status < 128 ? status : EINTR;
        }
        results.push_back({kind.name, error});
    }
    return results;
}

}  // namespace berth::container
