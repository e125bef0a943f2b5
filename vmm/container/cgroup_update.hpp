#pragma once
// `berth update --resources FILE|-`: new limits written into a running container's
// cgroups (the directories its record holds), as runc's update does: memory.limit,
// pids.limit, cpu.quota and cpu.period, on v1 or v2.

#include <string>
#include <vector>

#include "vmm/container/oci_spec.hpp"

namespace berth::container {

// Writes what `resources` sets into the cgroup directories `dirs`. A value for a
// controller none of them has is an error naming it; -1 (or 0 for pids) is no limit.
void update_cgroups(const std::vector<std::string>& dirs, const oci::Resources& resources);

}  // namespace berth::container
