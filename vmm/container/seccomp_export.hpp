#pragma once
// A libseccomp filter as the classic BPF program the kernel loads. Shared by the build's
// generator of berth's default profile (seccomp_profile) and by the compiler of a
// config.json's linux.seccomp (seccomp_config).

#include <linux/filter.h>
#include <seccomp.h>

#include <memory>
#include <vector>

namespace berth::container {

using SeccompContext = std::unique_ptr<void, decltype(&seccomp_release)>;

// Throws Error when libseccomp cannot export the filter.
std::vector<sock_filter> export_seccomp_program(scmp_filter_ctx filter);

}  // namespace berth::container
