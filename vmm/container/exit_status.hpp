#pragma once
// The exit statuses of `berth ct run` besides the command's own, as podman (and Docker)
// give them, so that scripts written for those read berth's the same way:
//   125  the runtime itself failed
//   126  the command was found but cannot be executed (not executable, a folder, ENOEXEC)
//   127  the command cannot be found (nor the interpreter its #! line names)
// Bad input to berth itself stays 2, as everywhere in berth.

#include "vmm/common/error.hpp"

namespace berth::container {

inline constexpr ExitStatus runtime_failure = static_cast<ExitStatus>(125);
inline constexpr ExitStatus command_not_executable = static_cast<ExitStatus>(126);
inline constexpr ExitStatus command_not_found = static_cast<ExitStatus>(127);

}  // namespace berth::container
