#pragma once
// `berth ct run`: starts the command in new namespaces with its own root filesystem,
// cgroup limits, reduced privileges and network, relays signals (and the terminal with
// -t), cleans everything up, and returns the command's exit status.
//
// Processes: berth stays outside as the supervisor. Its clone3 child is the container's
// PID 1, a small init of ours (the same binary, no exec) that builds the container,
// forks the command, reaps every zombie and forwards signals to the command. When the
// command exits, init exits with its status and the kernel kills what is left.
//
// Exit status: the command's; 128+N when a signal N ended it (137 with an OOM kill,
// which is reported on stderr); 2 for bad input; 125 when the runtime failed, 126 when
// the command cannot be executed, 127 when it cannot be found (exit_status.hpp).

#include <sys/types.h>

#include <string>
#include <vector>

#include "vmm/common/error.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/exit_status.hpp"
#include "vmm/container/init_channel.hpp"
#include "vmm/container/run_options.hpp"

namespace berth::container {

int run_container(const RunOptions& options);

// OCI create: what outlives berth.
struct CreatedContainer {
    pid_t init_pid = -1;
    std::vector<std::string> cgroups;  // the directories berth delete removes
    UniqueFd terminal;                 // with options.tty: the pseudo-terminal's master
    // berth's end: send `recorded` once the container is in the state, so that init goes
    // on to wait at the gate; closed without it, init exits (init_channel.hpp).
    InitChannel channel;
};

// Builds the container as run_container does, but init stops at the start gate
// (`start_gate`: an O_PATH descriptor of the FIFO, start_gate.hpp) instead of starting
// the command, and this returns: init, its namespaces and its cgroups outlive berth.
// As root the cgroups include a freezer one, for pause and resume.
CreatedContainer create_container(const RunOptions& options, int start_gate);

}  // namespace berth::container
