#pragma once
// A config.json's linux.seccomp compiled by libseccomp into the program the container's
// command loads before exec (as runc does): defaultAction and defaultErrnoRet,
// architectures, the rules with their errnoRet and argument conditions, and flags.
// System call names this libseccomp does not know are skipped, as runc skips them (a
// profile lists calls of newer kernels); an action, operator, architecture or flag
// berth cannot apply is bad input naming its JSON path.

#include "vmm/container/oci_spec.hpp"
#include "vmm/container/run_options.hpp"

namespace berth::container::oci {

// Throws a bad-input Error "linux.seccomp.syscalls[3].action: ...".
SeccompFilter compile_seccomp(const Seccomp& seccomp);

}  // namespace berth::container::oci
