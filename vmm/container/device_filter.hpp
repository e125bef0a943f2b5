#pragma once
// The devices cgroup of cgroup v2. v1 has a devices controller that takes rules as text
// (devices.allow, devices.deny); v2 has none: the kernel asks an eBPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE, attached to the cgroup (BPF_CGROUP_DEVICE), whether a
// process there may open or make a device node. berth writes that program itself from
// the rules, in the kernel's eBPF instruction set (Documentation/bpf/
// standardization/instruction-set.rst), and loads it with the bpf() system call: no
// library, no compiler.
//
// The program reads struct bpf_cgroup_dev_ctx (linux/bpf.h): access_type (the device
// type BPF_DEVCG_DEV_BLOCK or _CHAR in the low 16 bits, the accesses BPF_DEVCG_ACC_MKNOD,
// _READ, _WRITE asked for above them), major, minor. It answers 1 (allow) or 0 (deny).
//
// What it decides, for the OCI runtime spec's list of rules applied in order (the later
// rule wins where two match): each access asked for (m, r, w) is looked up on its own,
// from the last rule back; the first rule whose type, major and minor match the device
// and whose access holds that letter decides it; an access no rule mentions is allowed,
// as a new v1 devices cgroup starts from its parent's allow-all. The request is allowed
// when every access it asks for is. A type "a" rule matches every device.

#include <linux/bpf.h>

#include <span>
#include <string>
#include <vector>

#include "vmm/container/container_cgroup.hpp"

namespace berth::container {

// The program for `rules`. Throws a bad-input Error for a rule it cannot express (a type
// other than a, b, c; a major or minor above 2^31-1; an access other than r, w, m).
std::vector<bpf_insn> device_filter_program(std::span<const DeviceAccess> rules);

// Loads the program for `rules` and attaches it to the v2 cgroup directory `cgroup_dir`,
// beside what its ancestors have attached (BPF_F_ALLOW_MULTI: all must allow). The
// program stays while the cgroup does. Throws Error naming the step the kernel refused
// (with the verifier's words for a refused program).
void attach_device_filter(const std::string& cgroup_dir, std::span<const DeviceAccess> rules);

}  // namespace berth::container
