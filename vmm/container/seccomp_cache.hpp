#pragma once
// Compiled seccomp programs of config.json profiles, kept in /run/berth/seccomp-cache by
// the profile's SHA-256 (not under --root, which holds containers' state only): podman and
// containerd hand every container the same profile (~350 system calls allowed), and libseccomp took
// ~50 ms of every `berth create` to compile it, more than half of create's time
// (docs/benchmarks.md, podman run). The key covers every field of linux.seccomp, the libseccomp
// version and berth's, so a changed profile or a new berth compiles afresh. Only root writes it
// (mode 0700); rootless berth compiles every time.

#include <string>

#include "vmm/container/oci_spec.hpp"
#include "vmm/container/run_options.hpp"

namespace berth::container::oci {

// compile_seccomp (seccomp_config.hpp), through the cache in `directory` (made when
// missing). A profile berth cannot apply is bad input as ever: it never reaches the cache.
SeccompFilter compile_seccomp_cached(const Seccomp& seccomp, const std::string& directory);

// /run/berth/seccomp-cache as root, else empty (no cache).
std::string seccomp_cache_directory();

}  // namespace berth::container::oci
