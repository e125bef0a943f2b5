#pragma once
// config.json's hooks (runtime-spec config.md "POSIX-platform Hooks"): each hook's
// program runs with its args and exactly its env, the container's state JSON on its
// stdin, and is killed after its timeout. berth runs them at these points:
//   create: prestart and createRuntime (in berth's namespaces), then createContainer
//           (in the container's), once init waits at the start gate;
//   start:  startContainer (in the container's namespaces) before the gate opens,
//           poststart (berth's) once the command runs;
//   delete: poststop, once the container is gone.
// A failing hook fails create or start (the container is removed or killed), naming
// the hook; a failing poststop hook is a warning only.

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "vmm/container/oci_spec.hpp"

namespace berth::container::oci {

// Where a hook runs: berth's namespaces, or those of the container's init `pid`
// (mount, uts, ipc, network, cgroup; the program is opened on the host first, as the
// spec resolves `path` in the runtime namespace).
enum class HookPlace { runtime, container };

// Checks that every hook's program exists and is executable, before create makes
// anything: "hooks.prestart[0].path: '/x' ...". Throws bad input.
void check_hooks(const Hooks& hooks);

enum class HookFailure { fail, warn };

// Runs `hooks` (the stage named `stage`, "createRuntime") in order. With
// HookFailure::fail, throws Error "createRuntime hook 0 (/usr/bin/x): exited with
// status 3: LAST LINE OF ITS OUTPUT" at the first that fails; with warn, prints that
// as a warning on stderr and goes on.
void run_hooks(const std::vector<Hook>& hooks, std::string_view stage, const std::string& state,
               HookPlace place, pid_t pid, HookFailure failure = HookFailure::fail);

}  // namespace berth::container::oci
