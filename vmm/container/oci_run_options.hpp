#pragma once
// A config.json (oci_spec.hpp) turned into the RunOptions that `berth ct run` builds
// from its flags, so that an OCI container and `ct run` take the same code path. What
// berth cannot apply yet is refused here, as bad input naming the JSON path, before
// anything is created; what it applies its own way is listed in docs/containers.md.

#include <string>

#include "vmm/container/oci_spec.hpp"
#include "vmm/container/run_options.hpp"

namespace berth::container::oci {

// `bundle` is the absolute bundle directory (root.path is relative to it), `id` the
// container's ID (its cgroups are berth-ID).
// `seccomp_cache`: where compiled seccomp programs are kept (seccomp_cache.hpp); empty,
// every create compiles its own.
RunOptions run_options_from(const Spec& spec, const std::string& bundle, const std::string& id,
                            const std::string& seccomp_cache = {});

// The process part alone (args, env, cwd, user, capabilities, terminal), for create and
// for `berth exec`; errors name the path under "process.".
void apply_process(const Process& process, RunOptions& options);
// linux.seccomp compiled (seccomp_config.hpp), or no filter when the config has none;
// for create and for `berth exec`, whose process the container's filter confines too.
void apply_seccomp(const Spec& spec, RunOptions& options, const std::string& seccomp_cache = {});

}  // namespace berth::container::oci
