#pragma once
// Pausing a container (OCI `pause`/`resume`): the freezer of the container's cgroup.
// On v1 it is the freezer hierarchy's `freezer.state` (FROZEN, FREEZING, THAWED); on v2
// every non-root cgroup has `cgroup.freeze` (1 or 0) and reports the result as "frozen"
// in `cgroup.events`. Freezing is not instant (each task stops at its next return to
// user space), so set_frozen waits until the kernel reports it done.

#include <string>
#include <vector>

namespace berth::container {

// The directory among a container's cgroup directories whose freezer works, or empty.
std::string freezer_directory(const std::vector<std::string>& cgroups);

// Whether the cgroup at `dir` is frozen (FREEZING counts as not yet).
bool is_frozen(const std::string& dir);

// Freezes or thaws the cgroup at `dir` and waits (up to 5 s) until the kernel reports
// it done. Throws Error.
void set_frozen(const std::string& dir, bool frozen);

}  // namespace berth::container
