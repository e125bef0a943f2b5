#pragma once
// berth's default seccomp profile, close to Docker's: EPERM for the system calls listed
// in seccomp_profile.cpp, for x86-64 and the 32-bit entry points. Compiled by
// libseccomp at build time (berth-seccomp-gen); berth loads the result
// (default_seccomp_program() in security.hpp).

#include <linux/filter.h>

#include <vector>

namespace berth::container {

// The filter as a classic BPF program.
std::vector<sock_filter> compile_seccomp_filter();

}  // namespace berth::container
