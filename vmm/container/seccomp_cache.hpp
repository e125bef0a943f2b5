#pragma once
// Compiled seccomp programs of config.json profiles, kept under berth's --root by the
// profile's SHA-256: podman and containerd hand every container the same profile (~350
// system calls allowed), and libseccomp took ~50 ms of every `berth create` to compile
// it, more than half of create's time (docs/benchmarks.md, podman run). The key covers
// every field of linux.seccomp, the libseccomp version and berth's, so a changed profile
// or a new berth compiles afresh. Only root (the owner of --root, mode 0700) writes it.

#include <string>

#include "vmm/container/oci_spec.hpp"
#include "vmm/container/run_options.hpp"

namespace berth::container::oci {

// compile_seccomp (seccomp_config.hpp), through the cache in `directory` (made when
// missing). A profile berth cannot apply is bad input as ever: it never reaches the cache.
SeccompFilter compile_seccomp_cached(const Seccomp& seccomp, const std::string& directory);

}  // namespace berth::container::oci
